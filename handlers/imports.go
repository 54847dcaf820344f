package handlers

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// CSV import (store/import.go): POST /imports/preview/ says what a file would
// do, POST /imports/ stores it and queues its job (202), GET /imports/{id}/
// reports the job, GET /imports/{id}/failed.csv gives the rows that failed,
// POST /imports/{id}/undo/ takes the import back.

const importNotFound = "Import not found"

// maxImportBody bounds an upload's body: the file and a multipart form's
// other fields and boundaries.
const maxImportBody = store.MaxImportBytes + 64<<10

// isImportUpload says whether a request uploads a file to import (its body
// may be up to maxImportBody).
func isImportUpload(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	return p == views.ImportsPath || p == views.ImportsPath+"/preview"
}

// errImportTooLarge is the answer to a file over the limit.
var errImportTooLarge = errStatus(http.StatusRequestEntityTooLarge,
	fmt.Sprintf("the file is larger than %d MB, the most one import takes: split it into several files", store.MaxImportBytes>>20))

// TypeImport is the asynq task that runs one import.
const TypeImport = "import:run"

// importPayload is the task's payload: the import's id (the file and the
// options are in PostgreSQL).
type importPayload struct {
	ImportID uuid.UUID `json:"import_id"`
}

// ImportEnqueuer puts an import's job on the queue; Queue is one.
type ImportEnqueuer interface {
	EnqueueImport(ctx context.Context, id uuid.UUID) error
}

// importTimeout bounds one run of an import's job.
const importTimeout = 30 * time.Minute

// importMaxRetry is how many times a failed run of an import's job is tried
// again before the import fails.
const importMaxRetry = 5

// importTaskID is the id of import id's task: one task per import, so an
// enqueue while the task waits, runs or is to be retried does nothing.
func importTaskID(id uuid.UUID) string { return "import-" + id.String() }

// EnqueueImport enqueues the job of import id (once: the task id is the
// import's).
func (q *Queue) EnqueueImport(ctx context.Context, id uuid.UUID) error {
	err := q.enqueueImport(ctx, id)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

func (q *Queue) enqueueImport(ctx context.Context, id uuid.UUID) error {
	payload, err := json.Marshal(importPayload{ImportID: id})
	if err != nil {
		return fmt.Errorf("encode import task: %w", err)
	}
	_, err = q.Client.EnqueueContext(ctx, asynq.NewTask(TypeImport, payload),
		asynq.TaskID(importTaskID(id)), asynq.MaxRetry(importMaxRetry), asynq.Timeout(importTimeout))
	if err != nil {
		return fmt.Errorf("enqueue import %s: %w", id, err)
	}
	return nil
}

// handleImport runs one import's job (store.RunImport: idempotent, carrying
// on after the last batch committed). An import another worker holds is
// retried later; a job that failed its last attempt fails the import, saying
// why.
func (t *Tasks) handleImport(ctx context.Context, task *asynq.Task) error {
	var p importPayload
	if err := json.Unmarshal(task.Payload(), &p); err != nil || p.ImportID == uuid.Nil {
		return fmt.Errorf("import task with bad payload %q: %w", task.Payload(), asynq.SkipRetry)
	}
	err := t.Store.RunImport(ctx, p.ImportID)
	if err == nil || errors.Is(err, store.ErrImportBusy) {
		return err
	}
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	if retried >= maxRetry {
		t.Log.ErrorContext(ctx, "import failed", "import_id", p.ImportID, "err", err)
		if ferr := t.Store.FailImport(context.WithoutCancel(ctx), p.ImportID, importFailedWhy); ferr != nil {
			t.Log.WarnContext(ctx, "mark import failed", "import_id", p.ImportID, "err", ferr)
		}
	}
	return err
}

// importUpload reads the file and the options of an upload: a multipart form
// (field "file", with "mapping" and "duplicates" as fields or in the query)
// or the file as the body (text/csv, any type but a form; "file_name",
// "mapping" and "duplicates" in the query). The caller closes the file.
func importUpload(w http.ResponseWriter, r *http.Request) (store.ImportUpload, func(), error) {
	// A large file on a slow link takes longer than the server's read timeout.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(10 * time.Minute))
	up := store.ImportUpload{FileName: r.URL.Query().Get("file_name"), Duplicates: r.URL.Query().Get("duplicates")}
	mapping := r.URL.Query().Get("mapping")
	done := func() {}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "multipart/form-data":
		// Files over a MiB wait on disk, not in memory.
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) || strings.Contains(err.Error(), "too large") {
				return up, done, errImportTooLarge
			}
			return up, done, badRequest("the multipart form cannot be read: " + err.Error())
		}
		done = func() { _ = r.MultipartForm.RemoveAll() }
		file, hdr, err := r.FormFile("file")
		if err != nil {
			return up, done, &httpError{status: http.StatusBadRequest, msg: "the form has no file: send it as the field \"file\"", fields: map[string]string{"file": "is required"}}
		}
		if hdr.Size > store.MaxImportBytes {
			file.Close()
			return up, done, errImportTooLarge
		}
		up.Body = file
		prev := done
		done = func() { file.Close(); prev() }
		if up.FileName == "" {
			up.FileName = hdr.Filename
		}
		if v := r.FormValue("mapping"); v != "" {
			mapping = v
		}
		if v := r.FormValue("duplicates"); v != "" {
			up.Duplicates = v
		}
	case "application/x-www-form-urlencoded":
		return up, done, errStatus(http.StatusUnsupportedMediaType, "send the file as the body (text/csv) or as the field \"file\" of a multipart form")
	default:
		if up.FileName == "" {
			if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil {
				up.FileName = params["filename"]
			}
		}
		// The file is the body: the same limit as a multipart form's file.
		up.Body = http.MaxBytesReader(w, r.Body, store.MaxImportBytes)
	}
	if mapping != "" {
		if err := json.Unmarshal([]byte(mapping), &up.Mapping); err != nil {
			return up, done, &httpError{status: http.StatusBadRequest,
				msg:    `mapping must be a JSON object of header to field, like {"Full name": "name", "Fax": ""}`,
				fields: map[string]string{"mapping": "must be a JSON object of header to field"}}
		}
	}
	return up, done, nil
}

// importError turns the file's read errors into answers: a file over the
// limit is 413 whatever read it.
func importError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errImportTooLarge
	}
	return err
}

// handleImportPreview answers POST /imports/preview/: the file's columns and
// the fields they would go to, and its first rows with what the import would
// do with each and their errors. Nothing is written.
func (s *Server) handleImportPreview(w http.ResponseWriter, r *http.Request) error {
	up, done, err := importUpload(w, r)
	defer done()
	if err != nil {
		return err
	}
	p, err := s.Store.PreviewImport(r.Context(), up)
	if err != nil {
		return importError(err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// handleImportCreate answers POST /imports/: the file is stored and its job
// queued; 202 with the import (poll its url for progress).
func (s *Server) handleImportCreate(w http.ResponseWriter, r *http.Request) error {
	up, done, err := importUpload(w, r)
	defer done()
	if err != nil {
		return err
	}
	imp, err := s.Store.CreateImport(r.Context(), up)
	if err != nil {
		return importError(err)
	}
	ie, ok := s.Enqueuer.(ImportEnqueuer)
	if !ok {
		err = errors.New("no job queue")
	} else {
		err = ie.EnqueueImport(r.Context(), imp.ID)
	}
	if err != nil {
		s.Log.ErrorContext(r.Context(), "enqueue import", "import_id", imp.ID, "err", err, "request_id", RequestID(r.Context()))
		_ = s.Store.FailImport(context.WithoutCancel(r.Context()), imp.ID, "the job queue was unavailable; nothing was imported")
		return errStatus(http.StatusServiceUnavailable, "the job queue is unavailable, so the import cannot run; nothing was imported, try again shortly")
	}
	w.Header().Set("Location", importURL(imp.ID))
	writeJSON(w, http.StatusAccepted, importJSON(imp))
	return nil
}

// expiredMessage is the answer about an import past store.ImportRetention.
var expiredMessage = fmt.Sprintf("This import finished more than %d days ago; its rows are no longer kept, so it can no longer be undone and its failed rows can no longer be downloaded.",
	int(store.ImportRetention.Hours()/24))

// errImportExpired is the answer to an undo or a download of the failed rows
// of an import past store.ImportRetention: 410, it is gone for good.
var errImportExpired = errStatus(http.StatusGone, expiredMessage)

func importURL(id uuid.UUID) string { return views.ImportsPath + "/" + id.String() + "/" }

// importJSON is an import as the API shows it, with its progress and links.
func importJSON(imp store.Import) map[string]any {
	progress := 1.0
	if imp.RowsTotal > 0 && !imp.Finished() {
		progress = float64(imp.RowsDone) / float64(imp.RowsTotal)
	}
	b, _ := json.Marshal(imp)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["progress"] = progress
	m["url"] = importURL(imp.ID)
	m["failed_csv"] = views.ImportsPath + "/" + imp.ID.String() + "/failed.csv"
	m["undo"] = importURL(imp.ID) + "undo/"
	if imp.Expired { // its rows are gone: neither link works
		m["failed_csv"], m["undo"] = nil, nil
		m["expired_message"] = expiredMessage
	}
	return m
}

func importID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return uuid.Nil, store.ErrNotFound
	}
	return id, nil
}

// handleImportGet answers GET /imports/{id}/: the state, the counts, the
// progress (rows written of the file's rows) and the failed rows' errors.
func (s *Server) handleImportGet(w http.ResponseWriter, r *http.Request) error {
	id, err := importID(r)
	if err != nil {
		return err
	}
	imp, err := s.Store.GetImport(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, importJSON(imp))
	return nil
}

// handleImportList answers GET /imports/: the newest 50 imports.
func (s *Server) handleImportList(w http.ResponseWriter, r *http.Request) error {
	imps, err := s.Store.ListImports(r.Context(), 50)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(imps))
	for i, imp := range imps {
		out[i] = importJSON(imp)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleImportFailed answers GET /imports/{id}/failed.csv: the rows that
// failed, with the file's columns and an "error" column, to fix and import
// again (the import ignores the error column). Cells are neutralised as an
// export's are, and the import strips that again.
func (s *Server) handleImportFailed(w http.ResponseWriter, r *http.Request) error {
	id, err := importID(r)
	if err != nil {
		return err
	}
	var bw *bufio.Writer
	var cw *csv.Writer
	err = s.Store.ImportFailures(r.Context(), id, func(cells []string) error {
		if cw == nil {
			bw, cw = startExport(w, "text/csv; charset=utf-8", "failed-rows.csv")
			_, _ = bw.WriteString("\ufeff")
		}
		for i, c := range cells {
			cells[i] = store.NeutralizeCell(c)
		}
		return cw.Write(cells)
	})
	if errors.Is(err, store.ErrImportExpired) {
		return errImportExpired
	}
	if cw == nil {
		return err
	}
	cw.Flush()
	return s.endExport(r, bw, err)
}

// handleImportUndo answers POST /imports/{id}/undo/: the leads the import
// created go to the trash, the fields it updated get their values back;
// leads changed since are kept and listed. 409 while the import runs, or
// once it is undone; 410 once it is past store.ImportRetention.
func (s *Server) handleImportUndo(w http.ResponseWriter, r *http.Request) error {
	id, err := importID(r)
	if err != nil {
		return err
	}
	rep, err := s.Store.UndoImport(r.Context(), id)
	var se *store.ImportStateError
	if errors.As(err, &se) {
		return errStatus(http.StatusConflict, se.Error())
	}
	if errors.Is(err, store.ErrImportExpired) {
		return errImportExpired
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

// handleImportPage serves the import page (GET /import/), with the newest
// imports.
func (s *Server) handleImportPage(w http.ResponseWriter, r *http.Request) error {
	recent, err := s.Store.ListImports(r.Context(), 10)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, views.ImportPage(views.ImportPageData{Recent: recent}))
}
