package handlers

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// The admins' pipeline settings page (views.PipelinePage): plain form posts,
// each answered with the page again, saying what was done or why not. The
// store calls are the JSON API's (stages.go).

// stagePageRoutes registers the page on r, a group of signed-in admins; its
// changes need a browser session, as the other admin pages' do.
func (s *Server) stagePageRoutes(r chi.Router) {
	r.Get(views.PipelinePath, s.html(s.handlePipelinePage))
	r.Group(func(r chi.Router) {
		r.Use(s.sessionOnly)
		r.Post(views.PipelinePath+"/stages", s.html(s.pipelineAction(s.handleStageAddForm)))
		r.Post(views.PipelinePath+"/stages/order", s.html(s.pipelineAction(s.handleStageOrderForm)))
		r.Post(views.PipelinePath+"/stages/{id}", s.html(s.pipelineAction(s.handleStageEditForm)))
		r.Post(views.PipelinePath+"/stages/{id}/move", s.html(s.pipelineAction(s.handleStageMoveForm)))
		r.Post(views.PipelinePath+"/stages/{id}/delete", s.html(s.pipelineAction(s.handleStageDeleteForm)))
		r.Post(views.PipelinePath+"/settings", s.html(s.pipelineAction(s.handlePipelineSettingsForm)))
		r.Post(views.PipelinePath+"/reasons", s.html(s.pipelineAction(s.handleReasonAddForm)))
		r.Post(views.PipelinePath+"/reasons/{id}", s.html(s.pipelineAction(s.handleReasonEditForm)))
	})
}

// handlePipelinePage answers GET /admin/pipeline.
func (s *Server) handlePipelinePage(w http.ResponseWriter, r *http.Request) error {
	return s.pipelinePage(w, r, http.StatusOK, "", "")
}

// pipelinePage renders the page with a notice or an error.
func (s *Server) pipelinePage(w http.ResponseWriter, r *http.Request, status int, notice, msg string) error {
	d := views.PipelineData{Notice: notice, Error: msg}
	var err error
	if d.Stages, err = s.Store.Stages(r.Context()); err != nil {
		return err
	}
	if d.Reasons, err = s.Store.ListLostReasons(r.Context(), false); err != nil {
		return err
	}
	if d.Settings, err = s.Store.GetPipelineSettings(r.Context()); err != nil {
		return err
	}
	return s.render(w, r, status, views.PipelinePage(d))
}

// pipelineAction runs a form action that returns what it did: the page again
// with that notice, or, for input it refuses, with the reason (400 or 409).
func (s *Server) pipelineAction(action func(r *http.Request) (string, error)) htmlFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := parseForm(w, r); err != nil {
			return err
		}
		notice, err := action(r)
		if err == nil {
			return s.pipelinePage(w, r, http.StatusOK, notice, "")
		}
		var ve *store.ValidationError
		var ce *store.StageConflictError
		var he *httpError
		switch {
		case errors.As(err, &ve):
			return s.pipelinePage(w, r, http.StatusBadRequest, "", "Not saved: "+fieldMessages(ve.Fields))
		case errors.As(err, &ce):
			return s.pipelinePage(w, r, http.StatusConflict, "", "Not saved: "+ce.Field+" "+ce.Msg+".")
		case errors.As(err, &he) && he.status < 500:
			return s.pipelinePage(w, r, he.status, "", "Not saved: "+he.msg+".")
		case errors.Is(err, store.ErrNotFound):
			return s.pipelinePage(w, r, http.StatusNotFound, "", "That stage or reason no longer exists; the page shows the pipeline as it is now.")
		case errors.Is(err, store.ErrConflict):
			return s.pipelinePage(w, r, http.StatusConflict, "", "Not saved: "+err.Error()+".")
		}
		return err
	}
}

// fieldMessages is a validation error's messages as one sentence.
func fieldMessages(fields map[string]string) string {
	parts := make([]string, 0, len(fields))
	for k, v := range fields {
		parts = append(parts, strings.ReplaceAll(k, "_", " ")+" "+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ") + "."
}

// stageFormInput reads a stage form: name, kind, probability, rot_days (empty:
// never goes stale).
func stageFormInput(r *http.Request) (store.StageInput, error) {
	var in store.StageInput
	errs := map[string]string{}
	if v, ok := r.PostForm["name"]; ok {
		in.Name = &v[0]
	}
	if v, ok := r.PostForm["kind"]; ok {
		in.Kind = &v[0]
	}
	if v := strings.TrimSpace(r.PostFormValue("probability")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs["probability"] = "must be a whole number from 0 to 100"
		}
		in.Probability = &n
	}
	if _, ok := r.PostForm["rot_days"]; ok {
		in.SetRotDays = true
		if v := strings.TrimSpace(r.PostFormValue("rot_days")); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs["rot_days"] = "must be a whole number of days, or empty for never"
			}
			in.RotDays = &n
		}
	}
	if len(errs) > 0 {
		return in, &store.ValidationError{Fields: errs}
	}
	return in, nil
}

func formStageID(r *http.Request) (int, error) {
	id, err := strconv.Atoi(chi.URLParam(r, "id"))
	if err != nil {
		return 0, store.ErrNotFound
	}
	return id, nil
}

func (s *Server) handleStageAddForm(r *http.Request) (string, error) {
	in, err := stageFormInput(r)
	if err != nil {
		return "", err
	}
	st, err := s.Store.CreateStage(r.Context(), in)
	if err != nil {
		return "", err
	}
	return "Added the stage " + st.Name + ".", nil
}

func (s *Server) handleStageEditForm(r *http.Request) (string, error) {
	id, err := formStageID(r)
	if err != nil {
		return "", err
	}
	in, err := stageFormInput(r)
	if err != nil {
		return "", err
	}
	st, err := s.Store.UpdateStage(r.Context(), id, in)
	if err != nil {
		return "", err
	}
	return "Saved the stage " + st.Name + ".", nil
}

func (s *Server) handleStageMoveForm(r *http.Request) (string, error) {
	id, err := formStageID(r)
	if err != nil {
		return "", err
	}
	pos, err := strconv.Atoi(r.PostFormValue("position"))
	if err != nil {
		return "", &store.ValidationError{Fields: map[string]string{"position": "must be a whole number"}}
	}
	st, err := s.Store.UpdateStage(r.Context(), id, store.StageInput{Position: &pos})
	if err != nil {
		return "", err
	}
	return st.Name + " is now stage " + strconv.Itoa(st.Position+1) + ".", nil
}

// handleStageOrderForm takes the whole order (pipeline.js posts it after a
// drag): one "order" field per stage id.
func (s *Server) handleStageOrderForm(r *http.Request) (string, error) {
	var ids []int
	for _, v := range r.PostForm["order"] {
		id, err := strconv.Atoi(v)
		if err != nil {
			return "", &store.ValidationError{Fields: map[string]string{"order": "must list stage ids"}}
		}
		ids = append(ids, id)
	}
	if _, err := s.Store.ReorderStages(r.Context(), ids); err != nil {
		return "", err
	}
	return "Saved the order of the stages.", nil
}

func (s *Server) handleStageDeleteForm(r *http.Request) (string, error) {
	id, err := formStageID(r)
	if err != nil {
		return "", err
	}
	moveTo, err := strconv.Atoi(r.PostFormValue("move_to"))
	if err != nil {
		return "", &store.ValidationError{Fields: map[string]string{"move_to": "must be the stage that takes the leads"}}
	}
	st, moved, err := s.Store.DeleteStage(r.Context(), id, moveTo)
	if err != nil {
		return "", err
	}
	return "Deleted the stage " + st.Name + "; " + strconv.Itoa(moved) + " " + pluralLeads(moved) + " moved.", nil
}

func pluralLeads(n int) string {
	if n == 1 {
		return "lead"
	}
	return "leads"
}

func (s *Server) handlePipelineSettingsForm(r *http.Request) (string, error) {
	req := r.PostFormValue("lost_reason_required") != ""
	if err := s.Store.UpdatePipelineSettings(r.Context(), store.PipelineSettings{LostReasonRequired: req}); err != nil {
		return "", err
	}
	if req {
		return "A reason is now required when a lead is lost.", nil
	}
	return "A reason is now optional when a lead is lost.", nil
}

func (s *Server) handleReasonAddForm(r *http.Request) (string, error) {
	lr, err := s.Store.AddLostReason(r.Context(), r.PostFormValue("name"))
	if err != nil {
		return "", err
	}
	return "Added the lost reason " + lr.Name + ".", nil
}

func (s *Server) handleReasonEditForm(r *http.Request) (string, error) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 16)
	if err != nil {
		return "", store.ErrNotFound
	}
	active := r.PostFormValue("active") != "false"
	lr, err := s.Store.UpdateLostReason(r.Context(), int16(id), r.PostFormValue("name"), active)
	if err != nil {
		return "", err
	}
	if !lr.Active {
		return "Retired the lost reason " + lr.Name + "; leads keep it.", nil
	}
	return "Saved the lost reason " + lr.Name + ".", nil
}
