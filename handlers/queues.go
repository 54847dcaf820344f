package handlers

import (
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
)

// QueueDashboardPath is where the job queue dashboard is mounted.
const QueueDashboardPath = "/admin/queues"

// NewQueueDashboard returns asynqmon, asynq's monitoring UI, over the Redis of
// opt, for mounting at QueueDashboardPath: queues and their sizes, tasks by
// state with their errors, live workers, and retrying, archiving or deleting
// tasks. Close it when done (it holds a Redis connection pool).
func NewQueueDashboard(opt asynq.RedisConnOpt) *asynqmon.HTTPHandler {
	return asynqmon.New(asynqmon.Options{RootPath: QueueDashboardPath, RedisConnOpt: opt})
}

// queueDashboard guards the dashboard: signed-in admins only (a session, or an
// admin's API token), and its API's changes (retry, pause, delete) refuse
// cross-origin browser requests, since asynqmon has no CSRF token of its own.
func (s *Server) queueDashboard() http.Handler {
	return s.pageAuth(s.adminOnly(http.NewCrossOriginProtection().Handler(s.QueueDashboard)))
}
