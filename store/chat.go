package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// Roles of a chat message.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// States of an assistant reply, which is also the job that produces it. They are
// the task states of the chat API.
const (
	StatePending    = "PENDING"
	StateProcessing = "PROCESSING"
	StateSuccess    = "SUCCESS"
	StateFailure    = "FAILURE"
)

// Statuses of a ChatOperation.
const (
	OpDone                 = "done"
	OpAwaitingConfirmation = "awaiting_confirmation"
)

// MaxChatMessageLen bounds what a person may write in one message, in characters.
const MaxChatMessageLen = 4000

// ErrTurnInFlight means the conversation already has a reply being worked on.
var ErrTurnInFlight = errors.New("the assistant is still answering the previous message")

// ErrNotPending means a reply is no longer waiting for (this) worker: it is
// finished, or another worker claimed it since.
var ErrNotPending = errors.New("chat reply is not pending")

// ChatMessage is one message of a conversation: what the person wrote, or the
// assistant's reply. A reply is also the background job that writes it: State is
// the job's state and ID is the task id of the chat API.
type ChatMessage struct {
	ID      uuid.UUID `json:"id"`
	Role    string    `json:"role"`
	Content string    `json:"content"`
	State   string    `json:"state"`
	// Operations lists what a reply changed (or proposes, for a delete waiting for
	// the person's yes).
	Operations []ChatOperation `json:"operations"`
	Error      string          `json:"error,omitempty"`
	// LeadsChanged says that the reply changed at least one lead.
	LeadsChanged     bool      `json:"leads_changed"`
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// Final says whether a reply has its result (SUCCESS or FAILURE).
func (m ChatMessage) Final() bool {
	return m.State == StateSuccess || m.State == StateFailure
}

// ChatOperation is one change an assistant turn made to the leads.
type ChatOperation struct {
	// Action is the tool that made it: create_lead, update_lead_status,
	// update_lead_data or delete_lead.
	Action string `json:"action"`
	// Status is OpDone, or OpAwaitingConfirmation for a delete that waits for the
	// person's yes.
	Status  string    `json:"status"`
	LeadID  uuid.UUID `json:"lead_id"`
	Summary string    `json:"summary"`
	// Lead is the lead after the change (before it, for a delete).
	Lead *Lead `json:"lead,omitempty"`
	// Change is the write to apply when the turn commits; nil for an operation
	// that writes nothing.
	Change *LeadChange `json:"-"`
}

// Kinds of LeadChange.
const (
	ChangeCreate = "create"
	ChangeUpdate = "update"
	ChangeDelete = "delete"
)

// LeadChange is one write of an assistant turn.
type LeadChange struct {
	Kind string
	// LeadID is the lead to update or delete. For a create it is a placeholder that
	// later changes of the same turn may name; it becomes the new lead's id.
	LeadID uuid.UUID
	Input  LeadInput
	// IfVersion is the version of the lead the turn read (0: none, a lead the
	// turn creates). The change is written only if the lead still has it.
	IfVersion int64
}

func chatMessageFromRow(r queries.ChatMessage) (ChatMessage, error) {
	m := ChatMessage{
		ID:               r.ID,
		Role:             r.Role,
		Content:          r.Content,
		State:            r.State,
		Error:            r.Error,
		LeadsChanged:     r.LeadsChanged,
		PromptTokens:     int(r.PromptTokens),
		CompletionTokens: int(r.CompletionTokens),
		CreatedAt:        r.CreatedAt.UTC(),
		UpdatedAt:        r.UpdatedAt.UTC(),
		Operations:       []ChatOperation{},
	}
	if len(r.Operations) > 0 {
		if err := json.Unmarshal(r.Operations, &m.Operations); err != nil {
			return ChatMessage{}, fmt.Errorf("decode operations of chat message %s: %w", r.ID, err)
		}
	}
	return m, nil
}

// ChatTurn names the two rows a new message makes: the person's message and the
// pending reply (whose id is the task id).
type ChatTurn struct {
	ConversationID uuid.UUID
	MessageID      uuid.UUID
	ReplyID        uuid.UUID
}

// StartChatTurn stores the person's message and a pending reply in the
// conversation of ownerKey (made on first use), and drops the oldest messages
// beyond keep. It fails with ErrTurnInFlight while an earlier reply of the
// conversation is unfinished: the partial unique index
// chat_messages_one_in_flight_idx makes that check safe against concurrent sends.
func (s *Store) StartChatTurn(ctx context.Context, ownerKey, text string, keep int) (ChatTurn, error) {
	var turn ChatTurn
	err := s.inTx(ctx, func(q *queries.Queries) error {
		conv, err := q.UpsertConversation(ctx, ownerKey)
		if err != nil {
			return fmt.Errorf("upsert conversation: %w", err)
		}
		if err := claimConversation(ctx, q, conv.ID); err != nil {
			return err
		}
		msg, err := q.InsertChatMessage(ctx, queries.InsertChatMessageParams{
			ConversationID: conv.ID, Role: RoleUser, Content: text, State: StateSuccess,
		})
		if err != nil {
			return fmt.Errorf("insert chat message: %w", err)
		}
		reply, err := q.InsertChatMessage(ctx, queries.InsertChatMessageParams{
			ConversationID: conv.ID, Role: RoleAssistant, State: StatePending,
			ReplyTo: pgtype.UUID{Bytes: msg.ID, Valid: true},
		})
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "chat_messages_one_in_flight_idx" {
				return ErrTurnInFlight
			}
			return fmt.Errorf("insert chat reply: %w", err)
		}
		if _, err := q.TrimConversation(ctx, queries.TrimConversationParams{ConversationID: conv.ID, Keep: clampInt32(keep)}); err != nil {
			return fmt.Errorf("trim conversation: %w", err)
		}
		turn = ChatTurn{ConversationID: conv.ID, MessageID: msg.ID, ReplyID: reply.ID}
		return nil
	})
	return turn, err
}

// AdoptConversation makes the conversation of fromKey toKey's, when its newest
// message is firstMessage and toKey has none yet: an API client takes over the
// conversation its first message (sent before it had a conversation of its own)
// started. It reports whether it did.
func (s *Store) AdoptConversation(ctx context.Context, fromKey, toKey string, firstMessage uuid.UUID) (bool, error) {
	n, err := s.q.AdoptConversation(ctx, queries.AdoptConversationParams{FromKey: fromKey, ToKey: toKey, MessageID: firstMessage})
	if err != nil {
		return false, translate(fmt.Errorf("adopt conversation: %w", err))
	}
	return n == 1, nil
}

// CancelChatTurn removes a turn whose job could not be enqueued, as long as no
// worker started on it, so that a refused send leaves nothing behind.
func (s *Store) CancelChatTurn(ctx context.Context, turn ChatTurn) error {
	_, err := s.q.DeleteUnstartedTurn(ctx, queries.DeleteUnstartedTurnParams{MessageID: turn.MessageID, ReplyID: turn.ReplyID})
	return translate(err)
}

// ChatHistory returns the newest limit messages of ownerKey's conversation, oldest
// first; none when the conversation does not exist yet.
func (s *Store) ChatHistory(ctx context.Context, ownerKey string, limit int) ([]ChatMessage, error) {
	conv, err := s.q.GetConversationByKey(ctx, ownerKey)
	if err != nil {
		if err = translate(err); errors.Is(err, ErrNotFound) {
			return []ChatMessage{}, nil
		}
		return nil, fmt.Errorf("get conversation: %w", err)
	}
	return s.listChat(ctx, s.q, conv.ID, math.MaxInt64, limit)
}

func (s *Store) listChat(ctx context.Context, q *queries.Queries, convID uuid.UUID, beforeSeq int64, limit int) ([]ChatMessage, error) {
	rows, err := q.ListChatMessages(ctx, queries.ListChatMessagesParams{ConversationID: convID, BeforeSeq: beforeSeq, RowLimit: clampInt32(limit)})
	if err != nil {
		return nil, translate(fmt.Errorf("list chat messages: %w", err))
	}
	out := make([]ChatMessage, 0, len(rows))
	for _, r := range slices.Backward(rows) {
		m, err := chatMessageFromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// GetChatReply returns the assistant reply with id, or ErrNotFound.
func (s *Store) GetChatReply(ctx context.Context, id uuid.UUID) (ChatMessage, error) {
	row, err := s.q.GetChatMessage(ctx, id)
	if err != nil {
		return ChatMessage{}, translate(err)
	}
	if row.Role != RoleAssistant {
		return ChatMessage{}, ErrNotFound
	}
	return chatMessageFromRow(row)
}

// ClearConversation deletes ownerKey's conversation with its messages and
// whatever was waiting for an answer. A reply being worked on is dropped too: its
// worker finds nothing to write its result to, so it changes nothing.
func (s *Store) ClearConversation(ctx context.Context, ownerKey string) error {
	_, err := s.q.DeleteConversationByKey(ctx, ownerKey)
	return translate(err)
}

// ChatJob is what a worker needs to answer one message.
type ChatJob struct {
	ReplyID        uuid.UUID
	ConversationID uuid.UUID
	// Attempt identifies this claim; FinishChatReply takes it back.
	Attempt int
	// Message is what the person wrote.
	Message string
	// History holds the conversation's finished messages before Message, oldest
	// first (the person's messages and the assistant's successful replies).
	History []ChatMessage
	// Pending is what the message may answer (see conversations.pending), nil when
	// nothing is waiting; PendingExpiresAt says until when it is valid.
	Pending          json.RawMessage
	PendingExpiresAt time.Time
	PendingVersion   int64
}

// ClaimChatReply marks the reply as being worked on by the caller for lease and
// returns the job: the message, up to historyLimit earlier messages and what is
// pending. It fails with ErrNotFound when the reply is gone (the conversation was
// cleared) and ErrNotPending when it is finished or another worker holds it.
func (s *Store) ClaimChatReply(ctx context.Context, id uuid.UUID, lease time.Duration, historyLimit int) (ChatJob, error) {
	var job ChatJob
	err := s.inTx(ctx, func(q *queries.Queries) error {
		reply, err := q.ClaimChatReply(ctx, queries.ClaimChatReplyParams{ID: id, LeaseSeconds: lease.Seconds()})
		if err != nil {
			if translate(err) == ErrNotFound {
				if _, err := q.GetChatMessage(ctx, id); err == nil {
					return ErrNotPending
				}
			}
			return err
		}
		msg, err := q.GetChatMessage(ctx, uuid.UUID(reply.ReplyTo.Bytes))
		if err != nil {
			return fmt.Errorf("get message of reply %s: %w", id, err)
		}
		conv, err := q.GetConversation(ctx, reply.ConversationID)
		if err != nil {
			return fmt.Errorf("get conversation of reply %s: %w", id, err)
		}
		history, err := s.listChat(ctx, q, conv.ID, msg.Seq, historyLimit*2)
		if err != nil {
			return err
		}
		history = slices.DeleteFunc(history, func(m ChatMessage) bool {
			return m.Role == RoleAssistant && m.State != StateSuccess
		})
		if len(history) > historyLimit {
			history = history[len(history)-historyLimit:]
		}
		job = ChatJob{
			ReplyID:        reply.ID,
			ConversationID: conv.ID,
			Attempt:        int(reply.Attempts),
			Message:        msg.Content,
			History:        history,
			Pending:        conv.Pending,
			PendingVersion: conv.PendingVersion,
		}
		if conv.PendingExpiresAt.Valid {
			job.PendingExpiresAt = conv.PendingExpiresAt.Time
		}
		return nil
	})
	return job, err
}

// ReleaseChatReply hands back a reply claimed with attempt (its worker is
// shutting down): it is pending again, for the next delivery of its job.
func (s *Store) ReleaseChatReply(ctx context.Context, id uuid.UUID, attempt int) error {
	_, err := s.q.ReleaseChatReply(ctx, queries.ReleaseChatReplyParams{ID: id, Attempts: int32(attempt)})
	return translate(err)
}

// ChatResult is what a worker writes when it finishes a reply.
type ChatResult struct {
	ReplyID uuid.UUID
	Attempt int
	// State is StateSuccess or StateFailure.
	State string
	Text  string
	Error string
	// Operations are the turn's changes in order; those with a Change are applied.
	Operations []ChatOperation
	// Pending replaces what the next message may answer (nil: nothing), valid
	// until PendingExpiresAt. It is written only when the conversation's pending
	// is still at SeenPendingVersion.
	Pending            json.RawMessage
	PendingExpiresAt   time.Time
	SeenPendingVersion int64
	PromptTokens       int
	CompletionTokens   int
}

// FinishChatReply applies the turn's changes and writes its result in one
// transaction, so a turn is all done or not at all, and only once: the reply must
// still be claimed by res.Attempt (ErrNotPending otherwise; ErrNotFound when the
// conversation was cleared). A SUCCESS whose pending state changed meanwhile fails
// with ErrConflict; a FAILURE is written anyway. On success it returns the
// operations with the leads as written.
//
// Locks are taken conversation first, then the reply, then the stages and leads
// the changes touch: ClearConversation locks the conversation before its messages
// too, so the two never deadlock.
func (s *Store) FinishChatReply(ctx context.Context, res ChatResult) ([]ChatOperation, error) {
	ops := slices.Clone(res.Operations)
	if ops == nil {
		ops = []ChatOperation{}
	}
	err := s.inTx(ctx, func(q *queries.Queries) error {
		row, err := q.GetChatMessage(ctx, res.ReplyID)
		if err != nil {
			return err
		}
		if _, err := q.LockConversation(ctx, row.ConversationID); err != nil {
			return err
		}
		// The turn's changes are the assistant's, on behalf of the conversation's user.
		actx, err := assistantContext(ctx, q, row.ConversationID)
		if err != nil {
			return err
		}
		cur, err := q.GetChatMessageForUpdate(ctx, res.ReplyID)
		if err != nil {
			return err
		}
		if cur.State != StateProcessing || int(cur.Attempts) != res.Attempt {
			return ErrNotPending
		}
		var expires pgtype.Timestamptz
		if res.Pending != nil {
			expires = pgtype.Timestamptz{Time: res.PendingExpiresAt, Valid: true}
		}
		n, err := q.SetConversationPending(ctx, queries.SetConversationPendingParams{
			ID: cur.ConversationID, Pending: res.Pending, PendingExpiresAt: expires, SeenVersion: res.SeenPendingVersion,
		})
		if err != nil {
			return fmt.Errorf("set pending: %w", err)
		}
		if n == 0 && res.State == StateSuccess {
			return fmt.Errorf("%w: the conversation changed while the reply was written", ErrConflict)
		}
		changed := false
		if res.State == StateSuccess {
			if changed, err = s.applyChanges(actx, q, ops); err != nil {
				return err
			}
		}
		opsJSON, err := json.Marshal(ops)
		if err != nil {
			return fmt.Errorf("encode operations: %w", err)
		}
		n, err = q.FinishChatReply(ctx, queries.FinishChatReplyParams{
			ID: res.ReplyID, Attempts: int32(res.Attempt), State: res.State,
			Content: res.Text, Error: res.Error, Operations: opsJSON, LeadsChanged: changed,
			PromptTokens: clampInt32(res.PromptTokens), CompletionTokens: clampInt32(res.CompletionTokens),
		})
		if err != nil {
			return fmt.Errorf("finish reply: %w", err)
		}
		if n == 0 {
			return ErrNotPending
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ops, nil
}

// applyChanges runs the changes of ops in order inside the caller's transaction
// and fills in each operation's lead as written.
func (s *Store) applyChanges(ctx context.Context, q *queries.Queries, ops []ChatOperation) (bool, error) {
	if err := s.lockColumnsOf(ctx, q, ops); err != nil {
		return false, err
	}
	created := map[uuid.UUID]uuid.UUID{} // placeholder -> real id
	checked := map[uuid.UUID]bool{}
	changed := false
	for i := range ops {
		ch := ops[i].Change
		if ch == nil {
			continue
		}
		id := ch.LeadID
		if real, ok := created[id]; ok {
			id = real
		}
		in := ch.Input
		in.Normalize()
		// The turn read the lead at ch.IfVersion: its first change of the lead is
		// written only if nobody changed it since (later changes of the same lead
		// follow the turn's own).
		var ifVersions []int64
		if ch.IfVersion != 0 && !checked[id] {
			ifVersions = []int64{ch.IfVersion}
		}
		checked[id] = true
		var lead Lead
		var err error
		switch ch.Kind {
		case ChangeCreate:
			if verr := in.Validate(true); verr != nil {
				return false, verr
			}
			lead, err = s.createLead(ctx, q, in)
			if err == nil {
				created[ch.LeadID] = lead.ID
			}
		case ChangeUpdate:
			if verr := in.Validate(false); verr != nil {
				return false, verr
			}
			lead, err = s.updateLead(ctx, q, id, in, ifVersions)
		case ChangeDelete:
			lead, err = s.deleteLead(ctx, q, id, ifVersions)
		default:
			return false, fmt.Errorf("unknown change %q", ch.Kind)
		}
		if err != nil {
			return false, fmt.Errorf("%s lead %s: %w", ch.Kind, id, err)
		}
		ops[i].Lead, ops[i].LeadID = &lead, lead.ID
		changed = true
	}
	return changed, nil
}

// lockColumnsOf locks, in one LockStages call and so in board order, every column
// the changes of a turn touch: a turn's changes one after another would otherwise
// lock a column that comes before one already held, and deadlock with a plain
// move. The per-change functions then find their columns already locked. A lead
// that moved to another column between reading and locking makes it errStale, so
// the whole transaction is retried.
func (s *Store) lockColumnsOf(ctx context.Context, q *queries.Queries, ops []ChatOperation) error {
	var names []string
	seen := map[uuid.UUID]string{} // lead (or placeholder) -> column read before locking
	add := func(name string) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, op := range ops {
		ch := op.Change
		if ch == nil {
			continue
		}
		if ch.Kind == ChangeCreate {
			status := ch.Input.Status
			if status != nil {
				st := strings.TrimSpace(*status)
				status = &st
			}
			name, err := s.resolveStatus(ctx, q, status)
			if err != nil {
				return err
			}
			seen[ch.LeadID] = name
			add(name)
			continue
		}
		cur, ok := seen[ch.LeadID]
		if !ok {
			status, err := q.GetLeadStatus(ctx, ch.LeadID)
			if err != nil {
				return fmt.Errorf("%s lead %s: %w", ch.Kind, ch.LeadID, err)
			}
			cur = status
			seen[ch.LeadID] = cur
		}
		add(cur)
		if ch.Kind == ChangeUpdate && ch.Input.Status != nil {
			st := strings.TrimSpace(*ch.Input.Status)
			name, err := s.resolveStatus(ctx, q, &st)
			if err != nil {
				return err
			}
			add(name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	if err := lockStages(ctx, q, names...); err != nil {
		return err
	}
	for id, read := range seen {
		status, err := q.GetLeadStatus(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // a placeholder of a lead this turn creates
		}
		if err != nil {
			return err
		}
		if status != read {
			return errStale
		}
	}
	return nil
}

// StaleChatReply is a reply the queue seems to have lost.
type StaleChatReply struct {
	ID       uuid.UUID
	Enqueues int
}

// StaleChatReplies lists up to limit replies still pending since before
// pendingBefore, or claimed by a worker whose lease ran out, oldest first.
func (s *Store) StaleChatReplies(ctx context.Context, pendingBefore time.Time, limit int) ([]StaleChatReply, error) {
	rows, err := s.q.ListStaleChatReplies(ctx, queries.ListStaleChatRepliesParams{PendingBefore: pendingBefore, RowLimit: clampInt32(limit)})
	if err != nil {
		return nil, translate(fmt.Errorf("list stale chat replies: %w", err))
	}
	out := make([]StaleChatReply, len(rows))
	for i, r := range rows {
		out[i] = StaleChatReply{ID: r.ID, Enqueues: int(r.Enqueues)}
	}
	return out, nil
}

// MarkChatReplyEnqueued counts one more enqueue of a stale reply, if nobody else
// did since it was listed with enqueues. It reports whether this caller did.
func (s *Store) MarkChatReplyEnqueued(ctx context.Context, id uuid.UUID, enqueues int) (bool, error) {
	n, err := s.q.MarkChatReplyEnqueued(ctx, queries.MarkChatReplyEnqueuedParams{ID: id, Enqueues: int32(enqueues)})
	if err != nil {
		return false, translate(fmt.Errorf("mark chat reply enqueued: %w", err))
	}
	return n == 1, nil
}

// AbandonChatReplies fails, with message, every reply created before
// createdBefore that no worker is holding and none finished. Since a reply's
// changes are written with its result, an abandoned reply changed nothing.
func (s *Store) AbandonChatReplies(ctx context.Context, createdBefore time.Time, message string) ([]uuid.UUID, error) {
	ids, err := s.q.AbandonChatReplies(ctx, queries.AbandonChatRepliesParams{CreatedBefore: createdBefore, Error: message})
	if err != nil {
		return nil, translate(fmt.Errorf("abandon chat replies: %w", err))
	}
	return ids, nil
}

// DeleteIdleConversations deletes conversations unused since before.
func (s *Store) DeleteIdleConversations(ctx context.Context, before time.Time) (int, error) {
	n, err := s.q.DeleteIdleConversations(ctx, before)
	if err != nil {
		return 0, translate(fmt.Errorf("delete idle conversations: %w", err))
	}
	return int(n), nil
}

func clampInt32(n int) int32 {
	return int32(max(min(n, math.MaxInt32), 0))
}
