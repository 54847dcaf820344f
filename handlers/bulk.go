package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

const bulkNotFound = "Bulk action not found"

// bulkRequest is the body of POST /leads/bulk/.
type bulkRequest struct {
	IDs        []string         `json:"ids"`
	Action     string           `json:"action"`
	Status     string           `json:"status"`
	LostReason string           `json:"lost_reason"`
	LostNote   string           `json:"lost_note"`
	OwnerID    string           `json:"owner_id"`
	Owner      string           `json:"owner"`
	Versions   map[string]int64 `json:"versions"`
}

// handleBulk answers POST /leads/bulk/: {"ids": [...], "action": "move" |
// "assign" | "delete", ...}, all or nothing. A move takes "status" (and
// "lost_reason", "lost_note" into a lost stage), an assign "owner_id" or "owner" (an
// email; "" or null for nobody). "versions" maps ids to the version the
// client saw, as If-Match does for one lead: 412 listing the stale ids when
// any changed. 200 with the operation's id (for POST /leads/bulk/{id}/undo/)
// and the leads after.
func (s *Server) handleBulk(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	if err := rejectUnknown(m, "ids", "action", "status", "lost_reason", "lost_note", "owner_id", "owner", "versions"); err != nil {
		return err
	}
	var req bulkRequest
	for k, raw := range m {
		if isNull(raw) {
			continue
		}
		var target any
		switch k {
		case "ids":
			target = &req.IDs
		case "action":
			target = &req.Action
		case "status":
			target = &req.Status
		case "lost_reason":
			target = &req.LostReason
		case "lost_note":
			target = &req.LostNote
		case "owner_id":
			target = &req.OwnerID
		case "owner":
			target = &req.Owner
		case "versions":
			target = &req.Versions
		}
		if err := json.Unmarshal(raw, target); err != nil {
			return &httpError{status: http.StatusBadRequest, msg: k + " has the wrong type", fields: map[string]string{k: "has the wrong type"}}
		}
	}
	in := store.BulkInput{Action: req.Action, Status: req.Status, LostReason: req.LostReason, LostNote: req.LostNote, Versions: map[uuid.UUID][]int64{}}
	for _, v := range req.IDs {
		id, err := uuid.Parse(v)
		if err != nil {
			return &httpError{status: http.StatusBadRequest, msg: "ids must be lead ids; " + v + " is not one", fields: map[string]string{"ids": "must be lead ids"}}
		}
		in.IDs = append(in.IDs, id)
	}
	for k, v := range req.Versions {
		id, err := uuid.Parse(k)
		if err != nil {
			return &httpError{status: http.StatusBadRequest, msg: "versions must be keyed by lead id; " + k + " is not one", fields: map[string]string{"versions": "must be keyed by lead id"}}
		}
		in.Versions[id] = []int64{v}
	}
	if in.Action == store.BulkAssign {
		switch {
		case req.OwnerID != "":
			if in.Owner, err = uuid.Parse(req.OwnerID); err != nil {
				return &httpError{status: http.StatusBadRequest, msg: "owner_id must be a user id", fields: map[string]string{"owner_id": "must be a user id"}}
			}
		case strings.TrimSpace(req.Owner) != "":
			u, err := s.Store.GetUserByEmail(r.Context(), strings.TrimSpace(req.Owner))
			if err != nil || !u.Active {
				return &httpError{status: http.StatusBadRequest, msg: "owner must be the email of an active user", fields: map[string]string{"owner": "must be the email of an active user"}}
			}
			in.Owner = u.ID
		}
	}
	res, err := s.Store.BulkAction(r.Context(), in)
	var stale *store.BulkStaleError
	switch {
	case errors.As(err, &stale):
		ids := make([]string, len(stale.IDs))
		for i, id := range stale.IDs {
			ids[i] = id.String()
		}
		writeJSON(w, http.StatusPreconditionFailed, map[string]any{
			"error": "some leads were changed since the versions given; nothing was done", "stale_ids": ids,
		})
		return nil
	case errors.Is(err, store.ErrNotFound):
		return &httpError{status: http.StatusNotFound, msg: strings.TrimPrefix(err.Error(), store.ErrNotFound.Error()+": ") + " not found; nothing was done"}
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": res.ID, "action": in.Action, "leads": res.Leads,
		"undo": "/leads/bulk/" + res.ID.String() + "/undo/",
	})
	return nil
}

// bulkUndoneMessage is the answer to a second undo of a bulk action.
const bulkUndoneMessage = "this bulk action was undone already"

// handleBulkUndo answers POST /leads/bulk/{id}/undo/: the bulk action's leads
// put back, except those changed since (kept, listed). 409 once it is undone,
// as for an import.
func (s *Server) handleBulkUndo(w http.ResponseWriter, r *http.Request) error {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return store.ErrNotFound
	}
	rep, err := s.Store.UndoBulkAction(r.Context(), id)
	if errors.Is(err, store.ErrBulkUndone) {
		return errStatus(http.StatusConflict, bulkUndoneMessage)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
