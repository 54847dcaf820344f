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
// client that sends Authorization: Bearer <token>, to the client: a POST /chat/
// from a client without a client cookie answers with one (crm_chat_client), and a
// client that sends it back has a conversation of its own, keyed by the token's
// SHA-256 and the cookie (so the token itself is never stored, and the cookie is
// worth nothing without the token). A client that keeps no cookies stays in the
// token's shared conversation, as before. The first message of a client is sent
// before it has the cookie, so it lands in the shared conversation; the client's
// next request takes that conversation over (AdoptConversation) when that
// message is still its newest, so a "delete X" then "yes" works from the first
// message on, and the delete waiting there belongs to that one client. Either way
// the conversation belongs to the signed-in user (auth.go), and a task id of
// another user's conversation is not found.

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
	// chatClientCookie names an API client's own conversation: "<id>.<message>",
	// a random id and the message whose send issued it.
	chatClientCookie = "crm_chat_client"
	// chatClientMaxAge is how long a client cookie lasts; the conversation goes
	// earlier when it is idle (the housekeeping of idle conversations).
	chatClientMaxAge = 30 * 24 * time.Hour
)

// errAssistantUnavailable is what a send answers when the job cannot be queued.
var errAssistantUnavailable = errStatus(http.StatusServiceUnavailable, "assistant unavailable, try again")

// errTurnInFlight is what a send answers while the previous reply is pending.
var errTurnInFlight = errStatus(http.StatusConflict, "the assistant is still answering your previous message; wait for its reply")

type ownerKeyCtx struct{}

// apiOwner is the conversation owner of a request with a bearer token.
type apiOwner struct {
	// shared is the token's conversation, for clients without a cookie.
	shared string
	// client is the client's own conversation ("" without a client cookie), and
	// firstMessage the message its cookie was issued with.
	client       string
	firstMessage uuid.UUID
}

func (o apiOwner) key() string {
	if o.client != "" {
		return o.client
	}
	return o.shared
}

// chatSession gives chat requests their conversation owner: the API client (a
// bearer token, and its client cookie if it sends one back), or the browser
// session (loaded and saved by scs around the request by the sign-in check,
// auth.go). A request with a bearer token gets no session.
func (s *Server) chatSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := bearerToken(r); ok {
			sum := sha256.Sum256([]byte(tok))
			o := apiOwner{shared: "bearer:" + hex.EncodeToString(sum[:])}
			if c, err := r.Cookie(chatClientCookie); err == nil {
				if id, msg, ok := parseClientCookie(c.Value); ok {
					o.client, o.firstMessage = o.shared+":"+id, msg
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ownerKeyCtx{}, o)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// parseClientCookie reads a client cookie; ok is false for anything but
// "<32 hex digits>.<uuid>".
func parseClientCookie(v string) (string, uuid.UUID, bool) {
	id, msg, ok := strings.Cut(v, ".")
	if !ok || len(id) != 32 {
		return "", uuid.Nil, false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", uuid.Nil, false
	}
	m, err := uuid.Parse(msg)
	if err != nil {
		return "", uuid.Nil, false
	}
	return strings.ToLower(id), m, true
}

// issueClientCookie gives an API client without one its own conversation from
// its next request on; the message just sent is the one it may take over.
func (s *Server) issueClientCookie(w http.ResponseWriter, r *http.Request, message uuid.UUID) {
	o, ok := r.Context().Value(ownerKeyCtx{}).(apiOwner)
	if !ok || o.client != "" {
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	secure := r.TLS != nil
	if s.Sessions != nil {
		secure = secure || s.Sessions.Cookie.Secure
	}
	http.SetCookie(w, &http.Cookie{
		Name: chatClientCookie, Value: hex.EncodeToString(b[:]) + "." + message.String(), Path: "/chat",
		MaxAge: int(chatClientMaxAge.Seconds()), HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode,
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
	if o, ok := r.Context().Value(ownerKeyCtx{}).(apiOwner); ok {
		return o.key()
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
	if err := s.adoptConversation(r); err != nil {
		return store.ChatTurn{}, err
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

// adoptConversation gives a client with a new cookie the conversation its
// first message started in the token's shared one (see the top of this file).
func (s *Server) adoptConversation(r *http.Request) error {
	o, ok := r.Context().Value(ownerKeyCtx{}).(apiOwner)
	if !ok || o.client == "" {
		return nil
	}
	_, err := s.Store.AdoptConversation(r.Context(), o.shared, o.client, o.firstMessage)
	return err
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
	s.issueClientCookie(w, r, turn.MessageID)
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
	if err := s.adoptConversation(r); err != nil {
		return err
	}
	if key := s.chatOwner(r, false); key != "" {
		if err := s.Store.ClearConversation(r.Context(), key); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "cleared", "message": "Conversation cleared"})
	return nil
}
