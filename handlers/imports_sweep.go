package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
)

// Lost import jobs. An import's job is a task on Redis; Redis may lose it
// (restarted without persistence), and a worker that crashed on the job's
// last attempt never marks the import failed. The worker's sweeper
// (RunSweeper) finds the imports nobody is on and either enqueues their job
// again or, when the job failed its last attempt, fails the import saying so.

// importLostAfter is how long an import may stay queued before the sweeper
// looks for its job on the queue.
const importLostAfter = time.Minute

// importFailedWhy is what a failed import says when its job failed its last
// attempt.
const importFailedWhy = "the import stopped on a server error; the rows written so far stay (Undo removes them)"

// importQueue is the asynq queue of the import tasks (asynq's default).
const importQueue = "default"

// ImportJob is what RequeueImport found of an import's job on the queue.
type ImportJob string

// What RequeueImport found.
const (
	// ImportJobEnqueued: the queue had lost the job; it is enqueued again.
	ImportJobEnqueued ImportJob = "enqueued"
	// ImportJobQueued: the job is on the queue (waiting, running, or waiting
	// for its next attempt) and is left as it is.
	ImportJobQueued ImportJob = "queued"
	// ImportJobGaveUp: the job failed its last attempt (asynq archived it).
	ImportJobGaveUp ImportJob = "gave_up"
)

// importRequeuer enqueues again the job of an import the sweeper found with
// no worker on it; Queue is one.
type importRequeuer interface {
	RequeueImport(ctx context.Context, id uuid.UUID) (ImportJob, error)
}

// RequeueImport enqueues the job of import id again unless it is on the queue.
// The task id is the import's, so an enqueue while the task is pending,
// scheduled, running or to be retried conflicts and changes nothing; then the
// task's state (q.Inspector) tells an archived task (the job failed its last
// attempt: it is left for the queue dashboard, and ImportJobGaveUp) from one
// still to run. A completed task kept by a retention would block the id: it
// is deleted and the job enqueued afresh. Without an Inspector a conflict is
// taken for a task still to run.
func (q *Queue) RequeueImport(ctx context.Context, id uuid.UUID) (ImportJob, error) {
	err := q.enqueueImport(ctx, id)
	if err == nil {
		return ImportJobEnqueued, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return "", err
	}
	if q.Inspector == nil {
		return ImportJobQueued, nil
	}
	info, err := q.Inspector.GetTaskInfo(importQueue, importTaskID(id))
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return ImportJobQueued, nil // finished meanwhile; the next sweep looks again
	}
	if err != nil {
		return "", fmt.Errorf("inspect the task of import %s: %w", id, err)
	}
	switch info.State {
	case asynq.TaskStateArchived:
		return ImportJobGaveUp, nil
	case asynq.TaskStateCompleted:
		if err := q.Inspector.DeleteTask(importQueue, importTaskID(id)); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return "", fmt.Errorf("delete the completed task of import %s: %w", id, err)
		}
		if err := q.enqueueImport(ctx, id); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return "", err
		}
		return ImportJobEnqueued, nil
	default:
		return ImportJobQueued, nil
	}
}

// SweepImports looks at the imports queued for importLostAfter or running
// with their worker's lease run out (store.StaleImports): a job the queue
// lost is enqueued again, and an import whose job failed its last attempt
// without saying so (the worker crashed) fails with importFailedWhy. It does
// nothing when the enqueuer cannot requeue imports. Several workers sweeping
// at once is harmless: the task id makes the enqueue once only, and failing
// an import that is finished changes nothing.
func (t *Tasks) SweepImports(ctx context.Context, now time.Time) error {
	rq, ok := t.Enqueuer.(importRequeuer)
	if !ok {
		return nil
	}
	stale, err := t.Store.StaleImports(ctx, now.Add(-importLostAfter), 100)
	if err != nil {
		return err
	}
	for _, imp := range stale {
		job, err := rq.RequeueImport(ctx, imp.ID)
		if err != nil {
			return err
		}
		switch job {
		case ImportJobEnqueued:
			t.Log.Info("import enqueued again", "import_id", imp.ID)
		case ImportJobGaveUp:
			if err := t.Store.FailImport(ctx, imp.ID, importFailedWhy); err != nil {
				return fmt.Errorf("fail import %s: %w", imp.ID, err)
			}
			t.Log.Warn("import failed: its job failed its last attempt", "import_id", imp.ID)
		}
	}
	return nil
}
