package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// The assistant's JSON API, shaped as the original backend's:
//
//	POST /chat/                    {"message"} -> 202 {"task_id", "status": "PENDING"}
//	GET  /chat/status/{task_id}/   -> {"state", "result": {"ai_message", "operations"}, "error"}
//	POST /chat/clear/              -> {"status": "cleared", "message"}
//
// A conversation belongs to a browser session (an HttpOnly cookie) or, for an API
// client that sends Authorization: Bearer <token> and no cookie, to the token:
// its key is the token's SHA-256, so the token itself is never stored. Either
// way the conversation belongs to the signed-in user (auth.go), and a task id
// of another user's conversation is not found.

const (
	taskNotFound = "Task not found"
	// chatKeep is how many messages a conversation keeps; older ones are dropped.
	chatKeep = 200
	// chatPanelShown is how many messages the panel shows.
	chatPanelShown = 50
	// enqueueTimeout bounds putting a job on Redis, so a send answers quickly
	// when Redis is down.
	enqueueTimeout = 3 * time.Second
	// sessionChatKey is the session value holding the conversation's key.
	sessionChatKey = "chat_key"
)

// errAssistantUnavailable is what a send answers when the job cannot be queued.
var errAssistantUnavailable = errStatus(http.StatusServiceUnavailable, "assistant unavailable, try again")

// errTurnInFlight is what a send answers while the previous reply is pending.
var errTurnInFlight = errStatus(http.StatusConflict, "the assistant is still answering your previous message; wait for its reply")

type ownerKeyCtx struct{}

// chatSession gives chat requests their conversation owner: a bearer token, or
// the browser session (loaded and saved by scs around the request by the
// sign-in check, auth.go). A request with a bearer token gets no session and no
// cookie.
func (s *Server) chatSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := bearerToken(r); ok {
			sum := sha256.Sum256([]byte(tok))
			ctx := context.WithValue(r.Context(), ownerKeyCtx{}, "bearer:"+hex.EncodeToString(sum[:]))
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// chatOwner returns the key of the request's conversation. For a browser session
// without one, create makes one (stored in the session); otherwise "" means the
// request has no conversation yet.
func (s *Server) chatOwner(r *http.Request, create bool) string {
	if key, ok := r.Context().Value(ownerKeyCtx{}).(string); ok {
		return key
	}
	if s.Sessions == nil {
		return ""
	}
	key := s.Sessions.GetString(r.Context(), sessionChatKey)
	if key == "" && create {
		var b [16]byte
		_, _ = rand.Read(b[:])
		key = "session:" + hex.EncodeToString(b[:])
		s.Sessions.Put(r.Context(), sessionChatKey, key)
	}
	return key
}

// chatMessageText validates what a person wrote.
func chatMessageText(raw string, present bool) (string, error) {
	text := strings.TrimSpace(raw)
	switch {
	case !present || text == "":
		return "", &httpError{status: http.StatusBadRequest, msg: "Message is required", fields: map[string]string{"message": "is required"}}
	}
	if msg := store.CheckText(text, store.MaxChatMessageLen); msg != "" {
		return "", &httpError{status: http.StatusBadRequest, msg: "message " + msg, fields: map[string]string{"message": msg}}
	}
	return text, nil
}

// startChat stores the message with a pending reply and enqueues its job after
// the commit. When the job cannot be enqueued the turn is removed again, so a
// refused send leaves nothing behind.
func (s *Server) startChat(r *http.Request, text string) (store.ChatTurn, error) {
	if s.Enqueuer == nil {
		return store.ChatTurn{}, errAssistantUnavailable
	}
	owner := s.chatOwner(r, true)
	if owner == "" {
		return store.ChatTurn{}, errAssistantUnavailable // no sessions configured
	}
	turn, err := s.Store.StartChatTurn(r.Context(), owner, text, chatKeep)
	if errors.Is(err, store.ErrTurnInFlight) {
		return store.ChatTurn{}, errTurnInFlight
	}
	if err != nil {
		return store.ChatTurn{}, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), enqueueTimeout)
	defer cancel()
	if err := s.Enqueuer.EnqueueChatReply(ctx, turn.ReplyID, 1); err != nil {
		s.Log.ErrorContext(r.Context(), "enqueue chat reply", "request_id", RequestID(r.Context()), "reply_id", turn.ReplyID, "err", err)
		if cerr := s.Store.CancelChatTurn(context.WithoutCancel(r.Context()), turn); cerr != nil {
			// The sweeper will enqueue the reply once Redis is back.
			s.Log.ErrorContext(r.Context(), "remove unqueued chat turn", "reply_id", turn.ReplyID, "err", cerr)
		}
		return store.ChatTurn{}, errAssistantUnavailable
	}
	return turn, nil
}

// handleChatSend answers POST /chat/ with 202 and the task id to poll.
func (s *Server) handleChatSend(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	if err := rejectUnknown(m, "message"); err != nil {
		return err
	}
	var raw string
	rawMsg, present := m["message"]
	if present && !isNull(rawMsg) {
		if err := json.Unmarshal(rawMsg, &raw); err != nil {
			return &httpError{status: http.StatusBadRequest, msg: "message must be a string", fields: map[string]string{"message": "must be a string"}}
		}
	}
	text, err := chatMessageText(raw, present)
	if err != nil {
		return err
	}
	turn, err := s.startChat(r, text)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/chat/status/"+turn.ReplyID.String()+"/")
	writeJSON(w, http.StatusAccepted, map[string]string{"task_id": turn.ReplyID.String(), "status": store.StatePending})
	return nil
}

// chatStatus is the answer of GET /chat/status/{task_id}/.
type chatStatus struct {
	State  string      `json:"state"`
	Result *chatResult `json:"result"`
	Error  *string     `json:"error"`
}

type chatResult struct {
	AIMessage  string                `json:"ai_message"`
	Operations []store.ChatOperation `json:"operations"`
}

// handleChatStatus answers GET /chat/status/{task_id}/ from PostgreSQL. A task
// id is the reply's random UUID; another user's task is not found.
func (s *Server) handleChatStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := uuid.Parse(chi.URLParam(r, "task_id"))
	if err != nil {
		return store.ErrNotFound
	}
	reply, err := s.chatReply(r, id)
	if err != nil {
		return err
	}
	body := chatStatus{State: reply.State}
	switch reply.State {
	case store.StateSuccess:
		body.Result = &chatResult{AIMessage: reply.Content, Operations: reply.Operations}
	case store.StateFailure:
		msg := reply.Error
		body.Error = &msg
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// handleChatClear answers POST /chat/clear/: the conversation, and anything
// waiting for an answer in it, is gone.
func (s *Server) handleChatClear(w http.ResponseWriter, r *http.Request) error {
	if key := s.chatOwner(r, false); key != "" {
		if err := s.Store.ClearConversation(r.Context(), key); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "cleared", "message": "Conversation cleared"})
	return nil
}
