package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// The assistant panel beside the board (htmx fragments). The board page loads
// GET /chat/panel into <aside id="chat-panel">. A send appends the person's
// message and a "thinking" reply that polls GET /chat/panel/replies/{id} until
// the reply is final; when the turn changed leads, that final fragment's
// response triggers leads-changed and the board re-renders its columns.

// chatHTML adapts a panel handler: a failure becomes a message in the panel's
// error region (HX-Retarget), never a broken panel or page.
func (s *Server) chatHTML(fn htmlFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
			return
		}
		status, msg := chatHTMLError(err)
		s.logError(r, status, err)
		reqID := ""
		if status >= 500 {
			reqID = RequestID(r.Context())
			if status == http.StatusInternalServerError {
				msg += " Request id " + reqID + "."
			}
		}
		var c templ.Component
		if isHTMX(r) {
			w.Header().Set("HX-Retarget", views.ChatErrorID.Sel())
			w.Header().Set("HX-Reswap", "innerHTML")
			c = views.ChatError(msg)
		} else {
			c = views.ErrorPage(status, "Assistant", msg, reqID)
		}
		if rerr := s.render(w, r, status, c); rerr != nil {
			s.logError(r, http.StatusInternalServerError, rerr)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}
}

// chatHTMLError maps an error to a status and a message for the panel.
// Validation is 422 here (the JSON API says 400), the status htmx swaps.
func chatHTMLError(err error) (int, string) {
	var he *httpError
	if errors.As(err, &he) {
		switch he.status {
		case http.StatusBadRequest:
			if he.fields["message"] == "is required" {
				return http.StatusUnprocessableEntity, "Type a message first."
			}
			return http.StatusUnprocessableEntity, sentence("The message " + he.fields["message"])
		case http.StatusServiceUnavailable:
			return he.status, "The assistant is unavailable right now. Try again in a moment."
		case http.StatusConflict:
			return he.status, "The assistant is still answering your previous message; wait for its reply."
		}
	}
	status, _, msg := htmlError(err)
	return status, msg
}

// handleChatPanel answers GET /chat/panel: the conversation so far and the form.
// It is a fragment of the board page; a browser asking for it directly is sent
// to the board.
func (s *Server) handleChatPanel(w http.ResponseWriter, r *http.Request) error {
	if !isHTMX(r) {
		http.Redirect(w, r, views.BoardPath, http.StatusSeeOther)
		return nil
	}
	msgs := []store.ChatMessage{}
	if key := s.chatOwner(r, false); key != "" {
		var err error
		if msgs, err = s.Store.ChatHistory(r.Context(), key, chatPanelShown); err != nil {
			return err
		}
	}
	return s.render(w, r, http.StatusOK, views.ChatPanel(views.ChatPanelData{Messages: msgs, Mode: s.AssistantMode}))
}

// handleChatPanelSend answers the panel's form: the person's message and the
// pending reply, appended to the list, and an empty form. Without htmx (a plain
// form post) it sends the browser back to the board.
func (s *Server) handleChatPanelSend(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	_, present := r.PostForm["message"]
	text, err := chatMessageText(r.PostForm.Get("message"), present)
	if err != nil {
		return err
	}
	turn, err := s.startChat(r, text)
	if err != nil {
		return err
	}
	if !isHTMX(r) {
		seeOther(w, r, views.BoardPath)
		return nil
	}
	return s.render(w, r, http.StatusOK, views.ChatTurn(views.ChatTurnData{
		Message: store.ChatMessage{ID: turn.MessageID, Role: store.RoleUser, Content: text, State: store.StateSuccess},
		Reply:   store.ChatMessage{ID: turn.ReplyID, Role: store.RoleAssistant, State: store.StatePending},
	}))
}

// chatLongPoll is how long a reply's poll with ?wait waits for the reply to be
// final before it answers the pending reply, which asks again.
const chatLongPoll = 25 * time.Second

// chatPollFallback is how often a waiting poll reads the reply anyway, in case
// the worker's announcement is lost (Redis down, an older worker).
const chatPollFallback = time.Second

// handleChatPanelReply answers a reply's poll: the reply as it is now, or with
// ?wait (a long poll, which the pending reply makes) once it is final or after
// chatLongPoll. The worker announces each finished reply through Redis
// (PublishReplyDone), which wakes the waiting poll on whichever server holds
// it, so a reply shows the moment its job ends. The final version has no
// polling trigger; when its turn changed leads the response
// triggers leads-changed, which re-renders the board. A reply that is gone (the
// conversation was cleared) answers nothing, which removes it and stops polling.
func (s *Server) handleChatPanelReply(w http.ResponseWriter, r *http.Request) error {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return s.render(w, r, http.StatusOK, templ.NopComponent)
	}
	var reply store.ChatMessage
	if r.URL.Query().Has("wait") {
		reply, err = s.awaitChatReply(r, id)
	} else {
		reply, err = s.chatReply(r, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return s.render(w, r, http.StatusOK, templ.NopComponent)
	}
	if err != nil {
		return err
	}
	if reply.Final() && reply.LeadsChanged {
		w.Header().Set("HX-Trigger", "leads-changed")
	}
	return s.render(w, r, http.StatusOK, views.ChatMessage(reply))
}

// awaitChatReply returns reply id once it is final, or as it is after
// chatLongPoll, or when the server shuts down.
func (s *Server) awaitChatReply(r *http.Request, id uuid.UUID) (store.ChatMessage, error) {
	deadline := time.NewTimer(chatLongPoll)
	defer deadline.Stop()
	var hubDone <-chan struct{}
	if s.Events != nil {
		hubDone = s.Events.Done()
	}
	for {
		// Wait first, read second: an announcement made between the read and
		// the wait is not lost.
		var announced <-chan struct{}
		stop := func() {}
		if s.Events != nil {
			announced, stop = s.Events.waitReply(id)
		}
		reply, err := s.chatReply(r, id)
		if err != nil || reply.Final() {
			stop()
			return reply, err
		}
		fallback := time.NewTimer(chatPollFallback)
		select {
		case <-announced:
		case <-fallback.C:
		case <-deadline.C:
			stop()
			fallback.Stop()
			return reply, nil
		case <-hubDone:
			stop()
			fallback.Stop()
			return reply, nil
		case <-r.Context().Done():
			stop()
			fallback.Stop()
			return reply, r.Context().Err()
		}
		stop()
		fallback.Stop()
	}
}

// handleChatPanelClear starts the conversation over and shows the empty panel.
func (s *Server) handleChatPanelClear(w http.ResponseWriter, r *http.Request) error {
	if key := s.chatOwner(r, false); key != "" {
		if err := s.Store.ClearConversation(r.Context(), key); err != nil {
			return err
		}
	}
	if !isHTMX(r) {
		seeOther(w, r, views.BoardPath)
		return nil
	}
	return s.render(w, r, http.StatusOK, views.ChatPanel(views.ChatPanelData{Messages: []store.ChatMessage{}, Mode: s.AssistantMode}))
}
