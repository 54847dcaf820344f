package handlers

import (
	"log/slog"

	"github.com/hibiken/asynq"

	"github.com/crmteam/crm/store"
)

// Tasks holds what the background-job handlers need.
type Tasks struct {
	Store *store.Store
	Log   *slog.Logger
}

// NewTaskMux returns the asynq handler of every background-job type.
func NewTaskMux(t *Tasks) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	return mux
}
