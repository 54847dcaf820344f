package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

// responder turns a message into a reply by running tools on the turn: the LLM,
// or the built-in offline assistant.
type responder interface {
	respond(ctx context.Context, t *turn, job store.ChatJob) (reply, error)
}

// reply is a responder's answer.
type reply struct {
	text             string
	promptTokens     int
	completionTokens int
	calls            int
	maxRequestBytes  int
}

// userError is a failure the person should read as it is ("The AI service is
// rate-limiting requests..."); other errors get a generic message.
type userError struct {
	msg string
	err error
}

func (e *userError) Error() string { return e.msg + ": " + e.err.Error() }
func (e *userError) Unwrap() error { return e.err }

// Defaults of Config.
const (
	DefaultHistory    = 20
	DefaultConfirmTTL = 10 * time.Minute
	// MaxAttempts bounds how often a reply is tried before it fails for good.
	MaxAttempts = 3
)

// Config configures an Assistant.
type Config struct {
	// LLM drives the tools when set; otherwise the offline assistant does.
	LLM *LLM
	// History is how many earlier messages a turn sees (DefaultHistory when 0).
	History int
	// ConfirmTTL is how long a delete waits for its yes (DefaultConfirmTTL when 0).
	ConfirmTTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Assistant answers chat messages, one turn per job.
type Assistant struct {
	store      *store.Store
	log        *slog.Logger
	responder  responder
	mode       string
	history    int
	confirmTTL time.Duration
	now        func() time.Time
}

// New returns an Assistant over st.
func New(st *store.Store, log *slog.Logger, cfg Config) *Assistant {
	a := &Assistant{store: st, log: log, history: cfg.History, confirmTTL: cfg.ConfirmTTL, now: cfg.Now}
	if a.history <= 0 {
		a.history = DefaultHistory
	}
	if a.confirmTTL <= 0 {
		a.confirmTTL = DefaultConfirmTTL
	}
	if a.now == nil {
		a.now = time.Now
	}
	if cfg.LLM != nil {
		a.responder, a.mode = cfg.LLM, "llm"
	} else {
		a.responder, a.mode = offline{}, "offline"
	}
	return a
}

// RunTurn answers the reply with id: it claims it for lease, runs the turn, and
// writes the turn's changes and the reply in one transaction. It returns nil when
// there is nothing (left) to do: the reply is finished, held by another worker,
// or gone with a cleared conversation. An error means the outcome could not be
// recorded (the database is down); the job should be retried.
func (a *Assistant) RunTurn(ctx context.Context, id uuid.UUID, lease time.Duration) error {
	log := a.log.With("reply_id", id, "mode", a.mode)
	job, err := a.store.ClaimChatReply(ctx, id, lease, a.history)
	if errors.Is(err, store.ErrNotPending) || errors.Is(err, store.ErrNotFound) {
		log.DebugContext(ctx, "chat reply needs no work", "reason", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim chat reply %s: %w", id, err)
	}
	log = log.With("attempt", job.Attempt)
	if job.Attempt > MaxAttempts {
		return a.fail(ctx, log, job, fmt.Sprintf("The assistant could not answer after %d attempts. Nothing was changed; please try again.", MaxAttempts), nil)
	}
	start := a.now()
	t := newTurn(a.store, start)
	t.convID = job.ConversationID
	in := a.pendingOf(job)
	rep, err := a.answer(ctx, t, job, in)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			// The worker is shutting down: hand the reply back for the next delivery.
			// Nothing of the turn was written.
			if rerr := a.store.ReleaseChatReply(context.WithoutCancel(ctx), job.ReplyID, job.Attempt); rerr != nil {
				log.WarnContext(ctx, "release chat reply", "err", rerr)
			}
			return ctx.Err()
		}
		if ctx.Err() != nil {
			return a.fail(ctx, log, job, "The assistant ran out of time for this message. Nothing was changed; try again, perhaps one change at a time.", err)
		}
		var ue *userError
		if errors.As(err, &ue) {
			return a.fail(ctx, log, job, ue.msg, err)
		}
		return a.fail(ctx, log, job, "Something went wrong while answering. Nothing was changed; please try again.", err)
	}
	res := store.ChatResult{
		ReplyID: job.ReplyID, Attempt: job.Attempt, State: store.StateSuccess, Text: rep.text,
		Operations: t.ops, SeenPendingVersion: job.PendingVersion,
		PromptTokens: rep.promptTokens, CompletionTokens: rep.completionTokens,
	}
	next := t.pendingOut
	if next == nil && t.guard != nil && len(t.guard.held) > 0 {
		next = &pending{Kind: pendingConfirmWrites, Writes: t.guard.held}
	}
	if next == nil && a.mode == "offline" {
		next = t.ambiguous
	}
	if next == nil && a.mode == "offline" {
		next = t.lostAsk
	}
	if a.mode == "offline" && len(t.focusOut) > 0 {
		// The focus rides along with whatever else waits (not with a delete's
		// question: its answer is the app's business).
		if next == nil {
			next = &pending{Kind: pendingFocus}
		}
		if next.Kind != pendingConfirmDelete {
			next.Focus, next.Field = t.focusOut, t.focusField
		}
	}
	if next != nil {
		b, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("encode pending: %w", err)
		}
		res.Pending, res.PendingExpiresAt = b, start.Add(a.confirmTTL)
	}
	ops, err := a.store.FinishChatReply(context.WithoutCancel(ctx), res)
	switch {
	case errors.Is(err, store.ErrNotPending) || errors.Is(err, store.ErrNotFound):
		log.InfoContext(ctx, "chat reply superseded or cleared; result dropped", "reason", err)
		return nil
	case isDataProblem(err):
		// The data changed under the plan (a lead deleted or edited meanwhile): the
		// transaction rolled back, so nothing of the turn was written.
		var stale *store.StaleLeadError
		if errors.As(err, &stale) {
			return a.fail(ctx, log, job, a.staleText(ctx, stale.Lead), err)
		}
		return a.fail(ctx, log, job, "Nothing was changed: "+problemText(err)+" Please try again.", err)
	case err != nil:
		return fmt.Errorf("finish chat reply %s: %w", id, err)
	}
	changed := 0
	for _, op := range ops {
		if op.Change != nil {
			changed++
		}
	}
	log.InfoContext(ctx, "assistant turn", "state", store.StateSuccess, "llm_calls", rep.calls,
		"prompt_tokens", rep.promptTokens, "completion_tokens", rep.completionTokens,
		"total_tokens", rep.promptTokens+rep.completionTokens, "max_request_bytes", rep.maxRequestBytes,
		"changes", changed, "duration_ms", a.now().Sub(start).Milliseconds())
	return nil
}

// staleText reports a turn refused because someone changed a lead after the
// turn read it: who (from the audit trail), and the lead as it is now (read
// again in the refused transaction).
func (a *Assistant) staleText(ctx context.Context, l store.Lead) string {
	who := "Someone"
	if ev, err := a.store.LastLeadEvent(context.WithoutCancel(ctx), l.ID); err == nil {
		who = ev.ActorName
	}
	return fmt.Sprintf("Nothing was changed: %s changed %s while I was working on your message. It is now in %s, worth %s. Ask again if you still want the change.",
		who, leadLabel(l), l.Status, formatMoney(l.Value))
}

func isDataProblem(err error) bool {
	var ve *store.ValidationError
	return errors.As(err, &ve) || errors.Is(err, store.ErrConflict) || (err != nil && errors.Is(err, store.ErrNotFound))
}

func problemText(err error) string {
	var ve *store.ValidationError
	switch {
	case errors.As(err, &ve):
		return describeProblems(ve.Fields) + "."
	case errors.Is(err, store.ErrNotFound):
		return "a lead it needed was deleted meanwhile."
	default:
		return "the leads changed while the answer was being prepared."
	}
}

// fail records a reply as FAILURE with msg for the person. A failed turn
// changes no lead, and what was pending is dropped: it applied to this message.
func (a *Assistant) fail(ctx context.Context, log *slog.Logger, job store.ChatJob, msg string, cause error) error {
	_, err := a.store.FinishChatReply(context.WithoutCancel(ctx), store.ChatResult{
		ReplyID: job.ReplyID, Attempt: job.Attempt, State: store.StateFailure, Text: msg, Error: msg,
		SeenPendingVersion: job.PendingVersion,
	})
	if errors.Is(err, store.ErrNotPending) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record failure of chat reply %s: %w", job.ReplyID, err)
	}
	log.WarnContext(ctx, "assistant turn failed", "state", store.StateFailure, "message", msg, "err", cause)
	return nil
}

// pendingOf returns what the job's message may answer, nil when nothing is
// waiting. An expired confirmation is kept (marked) so the person can be told.
func (a *Assistant) pendingOf(job store.ChatJob) *pendingIn {
	if len(job.Pending) == 0 {
		return nil
	}
	var p pending
	if err := json.Unmarshal(job.Pending, &p); err != nil {
		a.log.Warn("unreadable pending state dropped", "reply_id", job.ReplyID, "err", err)
		return nil
	}
	return &pendingIn{pending: p, expired: !a.now().Before(job.PendingExpiresAt)}
}

type pendingIn struct {
	pending
	expired bool
}

// answer runs the turn: a yes to a pending delete is handled here, by the app and
// never by the model; everything else goes to the responder.
func (a *Assistant) answer(ctx context.Context, t *turn, job store.ChatJob, in *pendingIn) (reply, error) {
	if in != nil && in.Kind == pendingConfirmDelete {
		switch {
		case confirms(job.Message, in.Label) && in.expired:
			return reply{text: fmt.Sprintf("That delete request for %s expired, so nothing was deleted. Ask again if you still want it deleted.", in.Label)}, nil
		case confirms(job.Message, in.Label):
			return a.confirmDelete(ctx, t, in.LeadID)
		case isNo(job.Message):
			return reply{text: fmt.Sprintf("OK, I won't delete %s.", in.Label)}, nil
		}
		if !in.expired && affirms(job.Message) {
			// A model that asks to delete the same lead again right after the
			// person's not-quite-plain yes ("yes I'm sure, bin him") confirms it.
			t.repeatDelete = in.LeadID
		}
		rep, err := a.responder.respond(ctx, t, job)
		if err != nil {
			return rep, err
		}
		if !in.expired && !t.deleted(in.LeadID) {
			rep.text = fmt.Sprintf("(I did not delete %s: your message was not a yes, so that delete is cancelled.) ", in.Label) + rep.text
		}
		return rep, nil
	}
	if in != nil && in.Kind == pendingConfirmWrites {
		labels := make([]string, len(in.Writes))
		for i, w := range in.Writes {
			labels[i] = w.Summary
		}
		switch {
		case confirms(job.Message, strings.Join(labels, " ")) && in.expired:
			return reply{text: "Those changes waited too long for your yes, so nothing was changed. Ask again if you still want them."}, nil
		case confirms(job.Message, strings.Join(labels, " ")):
			return a.runHeld(ctx, t, in.Writes)
		case isNo(job.Message):
			return reply{text: "OK, I did not make those changes."}, nil
		}
		rep, err := a.responder.respond(ctx, t, job)
		if err != nil {
			return rep, err
		}
		if !in.expired {
			rep.text = "(I did not make the changes I asked you about: your message was not a yes, so they are cancelled.) " + rep.text
		}
		return rep, nil
	}
	if in != nil && in.Kind == pendingChooseLead && !in.expired {
		t.choice = &in.pending
	}
	if in != nil && in.Kind == pendingLostReason && !in.expired {
		t.lostQuestion = &in.pending
	}
	if in != nil {
		t.context = &in.pending
	}
	return a.responder.respond(ctx, t, job)
}

// runHeld plans the writes the person just confirmed, as the model asked for
// them, without the guard (the person's yes is the permission).
func (a *Assistant) runHeld(ctx context.Context, t *turn, writes []heldWrite) (reply, error) {
	var lines []string
	for _, w := range writes {
		res, err := t.run(ctx, w.Tool, w.Args)
		if err != nil {
			return reply{}, err
		}
		lines = append(lines, res.Message)
	}
	return reply{text: strings.Join(lines, "\n")}, nil
}

// confirmDelete plans the delete the person just confirmed: exactly the lead the
// question named.
func (a *Assistant) confirmDelete(ctx context.Context, t *turn, id uuid.UUID) (reply, error) {
	res, err := t.planDelete(ctx, id)
	return reply{text: res.Message}, err
}
