package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// The board's HTML: the page at /, its fragments, and the form posts that
// change leads. Each handler answers htmx with fragments (changed columns swapped
// out of band) and a plain browser with a full page or a 303 back to the board.

// maxSearchLen bounds the search text, as the JSON API does.
const maxSearchLen = 200

// searchParam reads the search q from the URL or the form, trimmed.
func searchParam(r *http.Request) (string, error) {
	q := strings.TrimSpace(r.FormValue("q"))
	if msg := checkSearch(q); msg != "" {
		return "", &store.ValidationError{Fields: map[string]string{"q": msg}}
	}
	return q, nil
}

// shownParam reads how many cards each column shows in the browser (app.js
// sends it as a JSON object keyed by stage), so a re-rendered column keeps what
// was loaded instead of shrinking back to its first page. Anything malformed is
// ignored: it only affects how much is rendered.
func shownParam(r *http.Request) map[string]int {
	raw := r.FormValue("shown")
	if raw == "" || len(raw) > 8<<10 {
		return nil
	}
	var m map[string]int
	if json.Unmarshal([]byte(raw), &m) != nil {
		return nil
	}
	return m
}

// columnLimit is how many cards to render in the column of stage.
func columnLimit(shown map[string]int, stage string) int {
	return min(max(views.PageSize, shown[stage]), store.MaxPageSize)
}

// boardParams is what a board request asks to see: the search and the
// filters (board_filter.go), with the filters as given for the board's URLs
// and form.
type boardParams struct {
	q      string
	filter store.BoardFilter
	given  url.Values
}

// requestBoard reads the search and filters of r. A search too long is an
// error; filters that cannot be read are returned as ferr, with the board's
// params left unfiltered, so the board can show both the message and itself.
func requestBoard(r *http.Request) (bp boardParams, ferr error, err error) {
	if bp.q, err = searchParam(r); err != nil {
		return bp, nil, err
	}
	bp.filter, bp.given, ferr = requestFilter(r)
	return bp, ferr, nil
}

// requestBoardLenient is requestBoard for the answers to a change: a bad
// search or filter there is not the change's fault, so they are left out.
func requestBoardLenient(r *http.Request) boardParams {
	bp, ferr, err := requestBoard(r)
	if err != nil {
		bp.q = ""
	}
	if ferr != nil {
		bp.filter, bp.given = store.BoardFilter{}, nil
	}
	return bp
}

// readBoard reads every column with its totals, each column as long as the
// browser had it (at least a page).
func (s *Server) readBoard(ctx context.Context, bp boardParams, shown map[string]int) (views.BoardData, error) {
	limit := views.PageSize
	for stage := range shown {
		limit = max(limit, columnLimit(shown, stage))
	}
	board, err := s.Store.ListBoard(ctx, store.BoardQuery{Search: bp.q, Filter: bp.filter, Limit: limit, WithTotals: true})
	if err != nil {
		return views.BoardData{}, err
	}
	for i := range board.Columns {
		col := &board.Columns[i]
		if n := columnLimit(shown, col.Stage.Name); len(col.Leads) > n {
			col.Leads, col.HasMore = col.Leads[:n], true
		}
	}
	return views.BoardData{Board: board, Query: bp.q, Filter: views.BoardFilter{Values: bp.given}, Now: time.Now()}, nil
}

// handleBoard answers GET /: the board page, or for htmx (the search box, the
// assistant's leads-changed refresh) the board fragment.
func (s *Server) handleBoard(w http.ResponseWriter, r *http.Request) error {
	bp, ferr, err := requestBoard(r)
	if err != nil {
		return err
	}
	if ferr == nil && s.pageNotModified(w, r) {
		return nil
	}
	since, err := s.eventsSince(r)
	if err != nil {
		return err
	}
	d, err := s.readBoard(r.Context(), bp, shownParam(r))
	if err != nil {
		return err
	}
	d.EventsSince = since
	// Filters that cannot be read: the board unfiltered by them, and the
	// messages beside the filters.
	status := http.StatusOK
	if ferr != nil {
		status = http.StatusBadRequest
		if isHTMX(r) {
			status = http.StatusUnprocessableEntity // htmx swaps it (views.htmxConfig)
		}
	}
	if d.Filter, err = s.boardFilterView(r, bp.given, ferr); err != nil {
		return err
	}
	if isHTMX(r) {
		switch r.Header.Get("HX-Trigger") {
		case views.SearchID.String(), views.FilterFormID.String():
			// The search and filters are kept in the address bar so a
			// filtered board can be bookmarked and shared; replaced, not
			// pushed, so typing does not fill history.
			w.Header().Set("HX-Replace-Url", d.URL())
		}
		return s.render(w, r, status, views.BoardFragment(d))
	}
	choices, err := s.boardChoices(r.Context())
	if err != nil {
		return err
	}
	return s.render(w, r, status, views.BoardPage(views.Page{Title: boardTitle(bp.q), Board: d, Choices: choices}))
}

// boardChoices reads what the board page's own dialogs offer: the lost
// reasons, whether one is required, and the active users to assign leads to.
func (s *Server) boardChoices(ctx context.Context) (views.BoardChoices, error) {
	var c views.BoardChoices
	var err error
	if c.LostReasons, err = s.Store.ListLostReasons(ctx, true); err != nil {
		return c, err
	}
	settings, err := s.Store.GetPipelineSettings(ctx)
	if err != nil {
		return c, err
	}
	c.ReasonRequired = settings.LostReasonRequired
	users, err := s.Store.ListUsers(ctx)
	if err != nil {
		return c, err
	}
	for _, u := range users {
		if u.Active {
			c.Users = append(c.Users, u)
		}
	}
	return c, nil
}

func boardTitle(q string) string {
	if q == "" {
		return "Board"
	}
	return "“" + q + "” · Board"
}

// handleBoardCards answers GET /board/cards?status=&after=&q=: the next page of
// one column, requested as its end scrolls into view.
func (s *Server) handleBoardCards(w http.ResponseWriter, r *http.Request) error {
	bp, ferr, err := requestBoard(r)
	if err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	status := r.FormValue("status")
	if status == "" {
		return &store.ValidationError{Fields: map[string]string{"status": "is required"}}
	}
	after, err := strconv.ParseInt(r.FormValue("after"), 10, 64)
	if err != nil {
		return &store.ValidationError{Fields: map[string]string{"after": "is not a valid card key"}}
	}
	if s.pageNotModified(w, r) {
		return nil
	}
	board, err := s.Store.ListBoard(r.Context(), store.BoardQuery{Search: bp.q, Filter: bp.filter, Status: status, Limit: views.PageSize, After: &after})
	if err != nil {
		return err
	}
	d := views.BoardData{Board: board, Query: bp.q, Filter: views.BoardFilter{Values: bp.given}, Now: time.Now()}
	return s.render(w, r, http.StatusOK, views.Cards(d, board.Columns[0]))
}

// boardWithDialog answers a direct URL of something the dialog shows: the board
// page with the dialog open on it.
func (s *Server) boardWithDialog(w http.ResponseWriter, r *http.Request, status int, title string, dialog func(views.BoardData) templ.Component) error {
	bp := requestBoardLenient(r)
	since, err := s.eventsSince(r)
	if err != nil {
		return err
	}
	d, err := s.readBoard(r.Context(), bp, nil)
	if err != nil {
		return err
	}
	if d.Filter, err = s.boardFilterView(r, bp.given, nil); err != nil {
		return err
	}
	d.EventsSince = since
	choices, err := s.boardChoices(r.Context())
	if err != nil {
		return err
	}
	return s.render(w, r, status, views.BoardPage(views.Page{Title: title, Board: d, Dialog: dialog(d), Choices: choices}))
}

// handleLeadNewForm answers GET /board/leads/new?status=: the create form, in
// the stage asked for (the first one otherwise).
func (s *Server) handleLeadNewForm(w http.ResponseWriter, r *http.Request) error {
	status := r.FormValue("status")
	var f views.LeadForm
	if err := s.withChoices(r, &f); err != nil {
		return err
	}
	form := func(stages []store.Stage) templ.Component {
		f.Values.SetField("status", stageOrFirst(stages, status))
		f.Stages = stages
		return views.LeadFormView(f)
	}
	if !isHTMX(r) {
		return s.boardWithDialog(w, r, http.StatusOK, "New lead", func(d views.BoardData) templ.Component { return form(d.Stages()) })
	}
	stages, err := s.Store.Stages(r.Context())
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, form(stages))
}

func stageOrFirst(stages []store.Stage, name string) string {
	for _, st := range stages {
		if strings.EqualFold(st.Name, name) {
			return st.Name
		}
	}
	if len(stages) > 0 {
		return stages[0].Name
	}
	return ""
}

// handleLeadDetail answers GET /board/leads/{id}: the lead with every field
// editable and its notes in full.
func (s *Server) handleLeadDetail(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	lead, err := s.Store.GetLead(r.Context(), id)
	if err != nil {
		return err
	}
	history, err := s.Store.LeadHistory(r.Context(), id, leadHistoryShown)
	if err != nil {
		return err
	}
	f := views.LeadForm{Lead: &lead, Values: views.ValuesOf(lead), Now: time.Now(), History: history}
	if err := s.withChoices(r, &f); err != nil {
		return err
	}
	form := func(stages []store.Stage) templ.Component {
		f.Stages = stages
		return views.LeadFormView(f)
	}
	if !isHTMX(r) {
		return s.boardWithDialog(w, r, http.StatusOK, lead.Name, func(d views.BoardData) templ.Component { return form(d.Stages()) })
	}
	stages, err := s.Store.Stages(r.Context())
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, form(stages))
}

// handleLeadCreateForm answers POST /board/leads. Invalid input re-renders the
// form with 422 and a message per field, keeping what was typed.
func (s *Server) handleLeadCreateForm(w http.ResponseWriter, r *http.Request) error {
	vals, in, err := parseLeadForm(w, r, true)
	if err == nil {
		var lead store.Lead
		lead, err = s.Store.CreateLead(r.Context(), in)
		if err == nil {
			return s.changed(w, r, "Added "+lead.Name+" to "+lead.Status+".", true, lead.Status)
		}
	}
	return s.formInvalid(w, r, err, views.LeadForm{Values: vals})
}

// handleLeadUpdateForm answers POST /board/leads/{id}: every field of the lead,
// the stage included (a new stage puts it at the end of that column). A form
// that carries the version it was rendered from (and the values then) is merged
// with what others changed meanwhile (mergeEdit); one that does not is written
// as it is.
func (s *Server) handleLeadUpdateForm(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	base, hasBase := editBaseOf(r)
	if hasBase {
		resolveTheirs(r, base)
	}
	vals, in, err := parseLeadForm(w, r, false)
	if err == nil {
		var lead store.Lead
		if hasBase {
			var conflicts []views.FieldConflict
			var cur store.Lead
			lead, cur, conflicts, err = s.mergeEdit(r, id, base, vals, in)
			if err == nil && conflicts != nil {
				return s.conflictForm(w, r, cur, vals, conflicts)
			}
		} else {
			lead, err = s.Store.UpdateLead(r.Context(), id, in)
		}
		if err == nil {
			return s.changed(w, r, "Saved "+lead.Name+".", true, r.PostFormValue("from"), lead.Status)
		}
	}
	var ve *store.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	// The form's heading shows the lead as stored, not as typed; the form keeps
	// the version it was rendered from, so that the next save still merges.
	lead, gerr := s.Store.GetLead(r.Context(), id)
	if gerr != nil {
		return gerr
	}
	f := views.LeadForm{Lead: &lead, Values: vals, Now: time.Now()}
	if hasBase {
		f.Edit = base
	}
	return s.formInvalid(w, r, err, f)
}

// formInvalid re-renders a lead form with 422 and the field messages when err
// is a validation error, and returns other errors to the adapter.
func (s *Server) formInvalid(w http.ResponseWriter, r *http.Request, err error, f views.LeadForm) error {
	var ve *store.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	f.Errors = formMessages(ve.Fields)
	return s.leadFormAgain(w, r, http.StatusUnprocessableEntity, "Check the input", f, false)
}

// leadFormAgain shows form f again with status: in the open dialog for htmx
// (retargeted to the dialog's body when retarget, as a conflict answers a save
// whose target was elsewhere), else in a board page with the dialog open
// under title.
func (s *Server) leadFormAgain(w http.ResponseWriter, r *http.Request, status int, title string, f views.LeadForm, retarget bool) error {
	if err := s.withChoices(r, &f); err != nil {
		return err
	}
	if !isHTMX(r) {
		return s.boardWithDialog(w, r, status, title, func(d views.BoardData) templ.Component {
			f.Stages = d.Stages()
			return views.LeadFormView(f)
		})
	}
	stages, err := s.Store.Stages(r.Context())
	if err != nil {
		return err
	}
	f.Stages = stages
	if retarget {
		w.Header().Set("HX-Retarget", views.DialogBodyID.Sel())
		w.Header().Set("HX-Reswap", "innerHTML")
	}
	return s.render(w, r, status, views.LeadFormView(f))
}

// handleLeadDeleteConfirm answers GET /board/leads/{id}/delete: are you sure?
func (s *Server) handleLeadDeleteConfirm(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	lead, err := s.Store.GetLead(r.Context(), id)
	if err != nil {
		return err
	}
	if !isHTMX(r) {
		return s.boardWithDialog(w, r, http.StatusOK, "Delete "+lead.Name, func(views.BoardData) templ.Component { return views.DeleteConfirm(lead) })
	}
	return s.render(w, r, http.StatusOK, views.DeleteConfirm(lead))
}

// handleLeadDeleteForm answers POST /board/leads/{id}/delete.
func (s *Server) handleLeadDeleteForm(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	// The confirmation carries the version it showed: a lead someone changed
	// since is not deleted unseen.
	var ifVersions []int64
	if v, perr := strconv.ParseInt(r.PostFormValue("version"), 10, 64); perr == nil {
		ifVersions = []int64{v}
	}
	lead, err := s.Store.DeleteLeadIf(r.Context(), id, ifVersions)
	var stale *store.StaleLeadError
	if errors.As(err, &stale) {
		msg := "Someone changed " + stale.Lead.Name + " meanwhile"
		if ev, eerr := s.Store.LastLeadEvent(r.Context(), id); eerr == nil {
			msg = ev.ActorName + " changed " + stale.Lead.Name + " " + views.Ago(ev.At, time.Now())
		}
		return &conflictError{err: err, msg: msg + ", so it was not deleted. Open it to see the change, then delete it if you still want to."}
	}
	if err != nil {
		return err
	}
	return s.changedUndo(w, r, "Deleted "+lead.Name+".", views.DeleteUndo(lead.ID), true, lead.Status)
}

// handleLeadRestoreForm answers POST /board/leads/{id}/restore, the Undo of a
// delete: the lead comes back from the trash, at the end of its column.
func (s *Server) handleLeadRestoreForm(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	lead, err := s.Store.RestoreLead(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, "That lead is no longer in the trash; it may have been restored already.")
	}
	if err != nil {
		return err
	}
	return s.changed(w, r, "Restored "+lead.Name+" to "+lead.Status+".", false, lead.Status)
}

// handleDemoLoad answers POST /board/demo, the empty board's offer: a dozen
// demo leads, only while the board has none (a second click adds nothing).
func (s *Server) handleDemoLoad(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	n, err := s.Store.CountLeads(r.Context())
	if err != nil {
		return err
	}
	if n > 0 {
		return errStatus(http.StatusConflict, "The board has leads already; demo leads are only loaded into an empty board.")
	}
	added, err := s.Store.SeedDemo(r.Context())
	if err != nil {
		return err
	}
	d, err := s.readBoard(r.Context(), requestBoardLenient(r), shownParam(r))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.ChangedAll(d, "Loaded "+strconv.Itoa(added)+" demo leads."))
}

// handleBoardMove answers POST /board/leads/{id}/move with status, order (the
// card position; left out: the end of the column) and from (the column the card
// was shown in). It makes the same store call as PUT /leads/{id}/status/.
// A refused move (the lead is gone, the stage is not one, a conflict) answers
// with its message and the whole board as the server has it, so the card goes
// back where it really is.
func (s *Server) handleBoardMove(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	status := r.PostFormValue("status")
	order := int(^uint32(0) >> 1) // the end of the column
	if v := r.PostFormValue("order"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil {
			return &store.ValidationError{Fields: map[string]string{"order": "must be a card position"}}
		}
		order = n
	}
	// The position the card had, for the message's Undo (sent by app.js).
	fromOrder, ferr := strconv.Atoi(r.PostFormValue("from_order"))
	var ifVersions []int64
	if v := r.PostFormValue("version"); v != "" {
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil {
			return &store.ValidationError{Fields: map[string]string{"version": "must be the version of the card shown"}}
		}
		ifVersions = []int64{n}
	}
	// The lost-reason dialog's answer, for a move into a lost stage: a reason
	// and a note sent only when given (Skip sends neither, and is refused
	// like any path when the team requires a reason).
	var out store.Outcome
	if v := r.PostFormValue("lost_reason"); strings.TrimSpace(v) != "" {
		out.LostReason = &v
	}
	if v := r.PostFormValue("lost_note"); strings.TrimSpace(v) != "" {
		out.LostNote = &v
	}
	lead, err := s.Store.MoveLeadOutcome(r.Context(), id, status, order, out, ifVersions)
	var stale *store.StaleLeadError
	if errors.As(err, &stale) {
		err = &conflictError{err: err, msg: s.staleMoveMessage(r.Context(), stale.Lead)}
	}
	if err != nil {
		if st, _, _ := htmlError(err); st < 500 && isHTMX(r) {
			if d, rerr := s.readBoard(r.Context(), requestBoardLenient(r), shownParam(r)); rerr == nil {
				return &errorWithView{err: err, view: views.BoardOOB(d)}
			}
		}
		return err
	}
	from := r.PostFormValue("from")
	msg := "Moved " + lead.Name + " to " + lead.Status + "."
	if out.LostReason != nil && lead.LostReason != "" {
		msg = "Moved " + lead.Name + " to " + lead.Status + " (" + lead.LostReason + ")."
	}
	if from == lead.Status {
		msg = lead.Name + " is now number " + strconv.Itoa(lead.CardOrder+1) + " in " + lead.Status + "."
	}
	var undo *views.Undo
	if r.PostFormValue("undo") == "" && ferr == nil && from != "" && (from != lead.Status || fromOrder != lead.CardOrder) {
		undo = views.MoveUndo(lead.ID, from, fromOrder, lead.Status)
	}
	return s.changedUndo(w, r, msg, undo, false, from, lead.Status)
}

// conflictError is a change refused because someone else changed the lead
// first, with a message that says who and what (htmlError shows it with 409).
type conflictError struct {
	err error
	msg string
}

func (e *conflictError) Error() string { return e.err.Error() }
func (e *conflictError) Unwrap() error { return e.err }

// staleMoveMessage tells the person whose drop or move was refused who changed
// the card meanwhile, and where it is now.
func (s *Server) staleMoveMessage(ctx context.Context, l store.Lead) string {
	where := l.Name + " is in " + l.Status + " (number " + strconv.Itoa(l.CardOrder+1) + ")"
	ev, err := s.Store.LastLeadEvent(ctx, l.ID)
	if err != nil {
		return "Someone changed " + l.Name + " meanwhile, so your move was not made. " + where + "; the board shows it there now."
	}
	what := "changed " + l.Name
	switch ev.Action {
	case store.EventMove:
		what = "moved " + l.Name
		for _, c := range ev.Changes {
			if c.Field == "status" {
				what += " to " + c.New
			}
		}
	case store.EventRestore:
		what = "restored " + l.Name
	}
	return ev.ActorName + " " + what + " " + views.Ago(ev.At, time.Now()) + ", so your move was not made. " + where + "; the board shows it there now."
}

// changed answers a successful change. htmx gets the message and the columns of
// stages re-rendered out of band (flashOOB: the message out of band too, and an
// empty main response that closes the dialog); a plain browser goes back to the
// board.
func (s *Server) changed(w http.ResponseWriter, r *http.Request, msg string, flashOOB bool, stages ...string) error {
	return s.changedUndo(w, r, msg, nil, flashOOB, stages...)
}

// changedUndo is changed with an Undo in the message (none when undo is nil).
func (s *Server) changedUndo(w http.ResponseWriter, r *http.Request, msg string, undo *views.Undo, flashOOB bool, stages ...string) error {
	bp := requestBoardLenient(r)
	if !isHTMX(r) {
		seeOther(w, r, views.BoardData{Query: bp.q, Filter: views.BoardFilter{Values: bp.given}}.URL())
		return nil
	}
	// The write has committed; this read is the "get" of post/redirect/get, done
	// in the same response so the page updates in place.
	d, err := s.readBoard(r.Context(), bp, shownParam(r))
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.ChangedUndo(d, msg, undo, flashOOB, stages))
}
