package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// The board's bulk bar (app.js): the cards selected on the board moved to a
// stage, given an owner or deleted, as one operation with one Undo. The form
// flavour of POST /leads/bulk/ (bulk.go): the same store call, answered with a
// message and the board re-rendered, so the cards are where the server has
// them.

// handleBoardBulk answers POST /board/bulk with ids (comma-separated lead
// ids), action (move, assign, delete), status and lost_reason, lost_note for
// a move, owner (an email; "" for nobody) for an assign, and versions (a JSON
// object of id to the version shown, as If-Match per card).
func (s *Server) handleBoardBulk(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := store.BulkInput{
		Action:     r.PostFormValue("action"),
		Status:     r.PostFormValue("status"),
		LostReason: r.PostFormValue("lost_reason"),
		LostNote:   r.PostFormValue("lost_note"),
		Versions:   map[uuid.UUID][]int64{},
	}
	for _, v := range strings.Split(r.PostFormValue("ids"), ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		id, err := uuid.Parse(v)
		if err != nil {
			return &store.ValidationError{Fields: map[string]string{"ids": "must be lead ids; " + v + " is not one"}}
		}
		in.IDs = append(in.IDs, id)
	}
	if raw := r.PostFormValue("versions"); raw != "" {
		var vs map[string]int64
		if json.Unmarshal([]byte(raw), &vs) != nil {
			return &store.ValidationError{Fields: map[string]string{"versions": "must map lead ids to the versions shown"}}
		}
		for k, v := range vs {
			id, err := uuid.Parse(k)
			if err != nil {
				return &store.ValidationError{Fields: map[string]string{"versions": "must map lead ids to the versions shown"}}
			}
			in.Versions[id] = []int64{v}
		}
	}
	ownerName := "nobody"
	if in.Action == store.BulkAssign {
		if email := strings.TrimSpace(r.PostFormValue("owner")); email != "" {
			u, err := s.Store.GetUserByEmail(r.Context(), email)
			if err != nil || !u.Active {
				return &store.ValidationError{Fields: map[string]string{"owner": "must be the email of an active user"}}
			}
			in.Owner, ownerName = u.ID, u.Name
		}
	}
	res, err := s.Store.BulkAction(r.Context(), in)
	var stale *store.BulkStaleError
	switch {
	case errors.As(err, &stale):
		err = &conflictError{err: err, msg: strconv.Itoa(len(stale.IDs)) + " of the selected leads were changed by someone meanwhile, so nothing was done. The board shows them as they are now; select again and retry."}
	case errors.Is(err, store.ErrNotFound):
		err = errStatus(http.StatusNotFound, "Some of the selected leads no longer exist (deleted meanwhile?), so nothing was done. The board shows what is left.")
	}
	if err != nil {
		if st, _, _ := htmlError(err); st < 500 && isHTMX(r) {
			if d, rerr := s.readBoard(r.Context(), requestBoardLenient(r), shownParam(r)); rerr == nil {
				return &errorWithView{err: err, view: views.BoardOOB(d)}
			}
		}
		return err
	}
	leads := views.Plural(len(res.Leads), "lead", "leads")
	var msg string
	switch in.Action {
	case store.BulkMove:
		msg = "Moved " + leads + " to " + res.Leads[0].Status
		if in.LostReason != "" && res.Leads[0].LostReason != "" {
			msg += " (" + res.Leads[0].LostReason + ")"
		}
		msg += "."
	case store.BulkAssign:
		msg = "Gave " + leads + " to " + ownerName + "."
	case store.BulkDelete:
		msg = "Deleted " + leads + "; they are in the trash."
	}
	return s.bulkDone(w, r, msg, views.BulkUndo(res.ID))
}

// handleBoardBulkUndo answers POST /board/bulk/{id}/undo, the Undo of the bulk
// bar's message: the store's UndoBulkAction, whose message says what was put
// back and what was kept.
func (s *Server) handleBoardBulkUndo(w http.ResponseWriter, r *http.Request) error {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return errStatus(http.StatusNotFound, "That bulk action does not exist.")
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	rep, err := s.Store.UndoBulkAction(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "That bulk action does not exist.")
	}
	if errors.Is(err, store.ErrBulkUndone) {
		return &conflictError{err: err, msg: sentence(bulkUndoneMessage)}
	}
	if err != nil {
		return err
	}
	return s.bulkDone(w, r, rep.Message, nil)
}

// bulkDone answers a bulk action or its undo: the message (with undo), and
// the whole board out of band, since the leads may be in any column.
func (s *Server) bulkDone(w http.ResponseWriter, r *http.Request, msg string, undo *views.Undo) error {
	bp := requestBoardLenient(r)
	if !isHTMX(r) {
		seeOther(w, r, views.BoardData{Query: bp.q, Filter: views.BoardFilter{Values: bp.given}}.URL())
		return nil
	}
	d, err := s.readBoard(r.Context(), bp, shownParam(r))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.BulkDone(d, msg, undo))
}
