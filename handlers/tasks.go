package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/crmteam/crm/assistant"
	"github.com/crmteam/crm/store"
)

// TypeChatReply is the asynq task that answers one chat message.
const TypeChatReply = "chat:reply"

// chatReplyPayload is the task's payload: only the id of the reply to write.
// The message, the conversation and the result live in PostgreSQL.
type chatReplyPayload struct {
	ReplyID uuid.UUID `json:"reply_id"`
}

// DefaultTurnTimeout bounds one assistant turn when Tasks.TurnTimeout is 0.
const DefaultTurnTimeout = 2 * time.Minute

// leaseMargin is how much longer than its turn a worker's claim on a reply lasts,
// so a reply is only taken over from a worker that is surely gone.
const leaseMargin = 30 * time.Second

// Enqueuer puts a chat reply's job on the queue. Queue is the implementation;
// the chat handlers depend on this interface so that tests can point them at a
// queue that is down.
type Enqueuer interface {
	EnqueueChatReply(ctx context.Context, replyID uuid.UUID, n int) error
}

// Queue enqueues background jobs on Redis through asynq.
type Queue struct {
	Client *asynq.Client
	// TurnTimeout is the turn timeout of the workers (DefaultTurnTimeout when 0);
	// a task's own time limit is a little longer, so the turn fails cleanly first.
	TurnTimeout time.Duration
	// Inspector, when set, lets RequeueImport tell a job that is on the queue
	// from one that failed its last attempt (archived) or finished.
	Inspector *asynq.Inspector
}

// EnqueueChatReply enqueues the job of reply id; n counts the enqueues of the
// reply (1 for the first), so a re-enqueue by the sweeper is a task of its own
// and never collides with the id of the first.
func (q *Queue) EnqueueChatReply(ctx context.Context, id uuid.UUID, n int) error {
	payload, err := json.Marshal(chatReplyPayload{ReplyID: id})
	if err != nil {
		return fmt.Errorf("encode chat reply task: %w", err)
	}
	taskID := id.String()
	if n > 1 {
		taskID += "-" + strconv.Itoa(n)
	}
	_, err = q.Client.EnqueueContext(ctx, asynq.NewTask(TypeChatReply, payload),
		asynq.TaskID(taskID), asynq.MaxRetry(assistant.MaxAttempts),
		asynq.Timeout(turnTimeout(q.TurnTimeout)+leaseMargin/2))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // already queued
	}
	if err != nil {
		return fmt.Errorf("enqueue chat reply %s: %w", id, err)
	}
	return nil
}

func turnTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTurnTimeout
	}
	return d
}

// Tasks holds what the background-job handlers need.
type Tasks struct {
	Store     *store.Store
	Log       *slog.Logger
	Assistant *assistant.Assistant
	// Enqueuer re-enqueues the replies the sweeper finds lost.
	Enqueuer Enqueuer
	// TurnTimeout bounds one assistant turn (DefaultTurnTimeout when 0).
	TurnTimeout time.Duration
	// Redis, when set, carries the news that a reply is finished to the long
	// polls of every server (PublishReplyDone), so the panel shows it at once.
	Redis redis.UniversalClient
}

// NewTaskMux returns the asynq handler of every background-job type.
func NewTaskMux(t *Tasks) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeChatReply, t.handleChatReply)
	mux.HandleFunc(TypeImport, t.handleImport)
	return mux
}

// handleChatReply runs one assistant turn. It is idempotent: the assistant claims
// the reply first and does nothing when it is no longer pending, and writes the
// turn's changes with the reply in one transaction, so a retried or duplicated
// task never applies a change twice. The turn has its own deadline, shorter than
// the task's, so a turn that runs out of time is recorded as FAILURE.
func (t *Tasks) handleChatReply(ctx context.Context, task *asynq.Task) error {
	var p chatReplyPayload
	if err := json.Unmarshal(task.Payload(), &p); err != nil || p.ReplyID == uuid.Nil {
		return fmt.Errorf("chat reply task with bad payload %q: %w", task.Payload(), asynq.SkipRetry)
	}
	timeout := turnTimeout(t.TurnTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := t.Assistant.RunTurn(ctx, p.ReplyID, timeout+leaseMargin)
	if t.Redis != nil {
		// Finished, failed for good, or to be retried: a waiting long poll reads
		// the reply again and keeps waiting if it is still pending.
		if perr := PublishReplyDone(context.WithoutCancel(ctx), t.Redis, p.ReplyID); perr != nil {
			t.Log.WarnContext(ctx, "announce chat reply", "reply_id", p.ReplyID, "err", perr)
		}
	}
	return err
}

// Sweeper settings.
const (
	// sweepLostAfter is how long a reply may wait on the queue before the sweeper
	// enqueues it again (Redis may have lost it: restarted without persistence).
	sweepLostAfter = time.Minute
	// sweepGiveUpAfter is how old an unfinished reply gets before it fails.
	sweepGiveUpAfter = 15 * time.Minute
	// conversationIdle is how long an unused conversation is kept.
	conversationIdle = 30 * 24 * time.Hour
)

// Sweep enqueues again the replies the queue seems to have lost (pending for a
// minute, or held by a worker whose lease ran out), fails the replies nobody
// finished in sweepGiveUpAfter, and deletes conversations idle for 30 days. An
// extra enqueue is harmless: the job does nothing once the reply is finished.
func (t *Tasks) Sweep(ctx context.Context, now time.Time) error {
	failed, err := t.Store.AbandonChatReplies(ctx, now.Add(-sweepGiveUpAfter),
		"The assistant did not get to this message in time. Nothing was changed; please send it again.")
	if err != nil {
		return err
	}
	for _, id := range failed {
		t.Log.Warn("chat reply abandoned", "reply_id", id)
	}
	stale, err := t.Store.StaleChatReplies(ctx, now.Add(-sweepLostAfter), 100)
	if err != nil {
		return err
	}
	for _, r := range stale {
		mine, err := t.Store.MarkChatReplyEnqueued(ctx, r.ID, r.Enqueues)
		if err != nil {
			return err
		}
		if !mine {
			continue // another worker's sweeper took it
		}
		if err := t.Enqueuer.EnqueueChatReply(ctx, r.ID, r.Enqueues+1); err != nil {
			return err
		}
		t.Log.Info("chat reply enqueued again", "reply_id", r.ID, "enqueues", r.Enqueues+1)
	}
	if n, err := t.Store.DeleteIdleConversations(ctx, now.Add(-conversationIdle)); err != nil {
		return err
	} else if n > 0 {
		t.Log.Info("idle conversations deleted", "count", n)
	}
	return nil
}

// RunSweeper sweeps the chat replies (Sweep) and the imports (SweepImports)
// every interval until ctx ends.
func (t *Tasks) RunSweeper(ctx context.Context, interval time.Duration) {
	every(ctx, interval, false, t.Log, "sweep", func(ctx context.Context, now time.Time) error {
		return errors.Join(t.Sweep(ctx, now), t.SweepImports(ctx, now))
	})
}

// every runs do at each tick of interval (and once at the start when atStart)
// until ctx ends, giving each run interval to finish and logging a failure as
// what.
func every(ctx context.Context, interval time.Duration, atStart bool, log *slog.Logger, what string,
	do func(ctx context.Context, now time.Time) error) {
	run := func(now time.Time) {
		rctx, cancel := context.WithTimeout(ctx, interval)
		defer cancel()
		if err := do(rctx, now); err != nil && ctx.Err() == nil {
			log.Warn(what, "err", err)
		}
	}
	if atStart {
		run(time.Now())
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			run(now)
		}
	}
}
