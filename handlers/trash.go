package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// The trash: deleted leads wait here for store.TrashRetention, restorable from
// the trash page or POST /leads/{id}/restore/, until the worker's purge removes
// them for good.

const trashNotFound = "Lead not found in the trash"

// trashPageSize is how many deleted leads the trash page lists.
const trashPageSize = 500

// handleTrash answers GET /trash.
func (s *Server) handleTrash(w http.ResponseWriter, r *http.Request) error {
	leads, err := s.Store.ListTrash(r.Context(), trashPageSize)
	if err != nil {
		return err
	}
	d := views.TrashData{Leads: leads, Now: time.Now()}
	if r.URL.Query().Get("done") == "restored" {
		d.Notice = "The lead is back on the board, at the end of its stage."
	}
	return s.render(w, r, http.StatusOK, views.TrashPage(d))
}

// handleTrashedLead answers GET /trash/{id}: the deleted lead and its history.
func (s *Server) handleTrashedLead(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return errStatus(http.StatusNotFound, trashNotFound+".")
	}
	lead, err := s.Store.GetTrashedLead(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, trashNotFound+"; it may have been restored or purged.")
	}
	if err != nil {
		return err
	}
	history, err := s.Store.LeadHistory(r.Context(), id, store.MaxHistory)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.TrashedLeadPage(views.TrashedLeadData{Lead: lead, History: history, Now: time.Now()}))
}

// handleTrashRestoreForm answers POST /trash/{id}/restore.
func (s *Server) handleTrashRestoreForm(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return errStatus(http.StatusNotFound, trashNotFound+".")
	}
	if _, err := s.Store.RestoreLead(r.Context(), id); errors.Is(err, store.ErrNotFound) {
		return errStatus(http.StatusNotFound, trashNotFound+"; it may have been restored or purged.")
	} else if err != nil {
		return err
	}
	seeOther(w, r, views.TrashPath+"?done=restored")
	return nil
}

// handleLeadRestore answers POST /leads/{id}/restore/ with 200 and the lead,
// back at the end of its column.
func (s *Server) handleLeadRestore(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	lead, err := s.Store.RestoreLead(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, lead)
	return nil
}

// PurgeTrash deletes for good the leads that have been in the trash longer
// than store.TrashRetention before now, and logs how many.
func PurgeTrash(ctx context.Context, st *store.Store, log *slog.Logger, now time.Time) error {
	ids, err := st.PurgeTrash(ctx, now.Add(-store.TrashRetention))
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		log.Info("trash purged", "count", len(ids))
	}
	return nil
}

// Housekeep does one round of housekeeping as of now: it purges the trash
// (PurgeTrash), the rows of the imports past their retention and the files of
// finished imports (store.PurgeImports), and deletes the records of expired
// sessions.
func Housekeep(ctx context.Context, st *store.Store, log *slog.Logger, now time.Time) error {
	if err := PurgeTrash(ctx, st, log, now); err != nil {
		return fmt.Errorf("purge trash: %w", err)
	}
	chunks, rows, err := st.PurgeImports(ctx, now.Add(-store.ImportRetention))
	if err != nil {
		return err
	}
	if chunks > 0 || rows > 0 {
		log.Info("imports purged", "file_chunks", chunks, "rows", rows)
	}
	if _, err := st.DeleteExpiredSessions(ctx); err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}

// RunHousekeeping runs Housekeep now and then every interval until ctx ends.
// Each step is one idempotent statement, so several workers doing it at once
// is fine.
func RunHousekeeping(ctx context.Context, st *store.Store, log *slog.Logger, interval time.Duration) {
	every(ctx, interval, true, log, "housekeeping", func(ctx context.Context, now time.Time) error {
		return Housekeep(ctx, st, log, now)
	})
}

// leadHistoryShown is how many events of its history a lead's dialog shows.
const leadHistoryShown = 100
