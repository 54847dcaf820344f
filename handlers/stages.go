package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/crmteam/crm/store"
)

// The pipeline's stages over the JSON API: everyone signed in reads them,
// admins change them. The settings page (stages_page.go) makes the same store
// calls.

// stageNotFound is the API's message for an unknown stage id.
const stageNotFound = "stage not found"

// stageRoutes registers the stage API (a session or a token; changes for
// admins) and the admins' pipeline settings page (stages_page.go) on root.
func (s *Server) stageRoutes(root chi.Router) {
	root.Group(func(r chi.Router) {
		r.Use(s.apiAuth)
		r.Get("/stages", s.api(stageNotFound, s.handleStageList))
		r.Post("/stages", s.api(stageNotFound, s.apiAdmin(s.handleStageCreate)))
		r.Patch("/stages/{id}", s.api(stageNotFound, s.apiAdmin(s.handleStageUpdate)))
		r.Delete("/stages/{id}", s.api(stageNotFound, s.apiAdmin(s.handleStageDelete)))
	})
	root.Group(func(r chi.Router) {
		r.Use(s.pageAuth, s.adminOnly)
		s.stagePageRoutes(r)
	})
}

// apiAdmin refuses members with 403 JSON.
func (s *Server) apiAdmin(fn apiFunc) apiFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if u, ok := currentUser(r); !ok || !u.IsAdmin() {
			s.logRefusal(r, "admin only")
			return errStatus(http.StatusForbidden, "only an admin can change the pipeline's stages")
		}
		return fn(w, r)
	}
}

// handleStageList answers GET /stages/: every stage in board order.
func (s *Server) handleStageList(w http.ResponseWriter, r *http.Request) error {
	stages, err := s.Store.Stages(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, stages)
	return nil
}

// handleStageCreate answers POST /stages/ with name, and optionally kind,
// probability, rot_days and position: 201 and the stage.
func (s *Server) handleStageCreate(w http.ResponseWriter, r *http.Request) error {
	in, err := decodeStageInput(w, r)
	if err != nil {
		return err
	}
	st, err := s.Store.CreateStage(r.Context(), in)
	if err != nil {
		return stageError(err)
	}
	writeJSON(w, http.StatusCreated, st)
	return nil
}

// handleStageUpdate answers PATCH /stages/{id}/: the fields given change.
func (s *Server) handleStageUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := stageID(r)
	if err != nil {
		return err
	}
	in, err := decodeStageInput(w, r)
	if err != nil {
		return err
	}
	st, err := s.Store.UpdateStage(r.Context(), id, in)
	if err != nil {
		return stageError(err)
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

// handleStageDelete answers DELETE /stages/{id}/?move_to={id}: the stage goes,
// its leads to the end of move_to. The answer says how many moved.
func (s *Server) handleStageDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := stageID(r)
	if err != nil {
		return err
	}
	raw := r.URL.Query().Get("move_to")
	if raw == "" {
		return fieldErr(http.StatusBadRequest, "move_to", "is required: the id of the stage that takes this stage's leads")
	}
	moveTo, err := strconv.Atoi(raw)
	if err != nil {
		return fieldErr(http.StatusBadRequest, "move_to", "must be a stage id (a whole number)")
	}
	st, moved, err := s.Store.DeleteStage(r.Context(), id, moveTo)
	if err != nil {
		return stageError(err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": st, "moved_leads": moved, "move_to": moveTo})
	return nil
}

func stageID(r *http.Request) (int, error) {
	id, err := strconv.Atoi(chi.URLParam(r, "id"))
	if err != nil || id < 1 || id > 1<<15-1 {
		return 0, errStatus(http.StatusNotFound, stageNotFound)
	}
	return id, nil
}

// fieldErr is an error of status about one field.
func fieldErr(status int, field, msg string) error {
	return &httpError{status: status, msg: field + " " + msg, fields: map[string]string{field: msg}}
}

// stageError names the field of a refused stage edit (409 for the pipeline as
// it is); other errors go to the adapter as they are.
func stageError(err error) error {
	var ce *store.StageConflictError
	if errors.As(err, &ce) {
		return fieldErr(http.StatusConflict, ce.Field, ce.Msg)
	}
	return err
}

// decodeStageInput reads a stage's JSON body: name, kind, probability,
// rot_days (null: never rots) and position; anything else is refused.
func decodeStageInput(w http.ResponseWriter, r *http.Request) (store.StageInput, error) {
	var in store.StageInput
	m, err := decodeObject(w, r)
	if err != nil {
		return in, err
	}
	if err := rejectUnknown(m, "name", "kind", "probability", "rot_days", "position", "id"); err != nil {
		return in, err
	}
	errs := map[string]string{}
	text := func(field string) *string {
		raw, ok := m[field]
		if !ok {
			return nil
		}
		var v string
		if json.Unmarshal(raw, &v) != nil {
			errs[field] = "must be a string"
			return nil
		}
		return &v
	}
	number := func(field string, nullable bool) (*int, bool) {
		raw, ok := m[field]
		if !ok {
			return nil, false
		}
		if string(raw) == "null" {
			if !nullable {
				errs[field] = "must be a whole number"
			}
			return nil, true
		}
		var v int
		if json.Unmarshal(raw, &v) != nil {
			errs[field] = "must be a whole number"
			return nil, false
		}
		return &v, true
	}
	in.Name, in.Kind = text("name"), text("kind")
	in.Probability, _ = number("probability", false)
	in.RotDays, in.SetRotDays = number("rot_days", true)
	in.Position, _ = number("position", false)
	if _, ok := m["id"]; ok {
		errs["id"] = "is the server's; it cannot be written"
	}
	if len(errs) > 0 {
		return in, &store.ValidationError{Fields: errs}
	}
	return in, nil
}
