package handlers

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/crmteam/crm/store"
)

// Exports: GET /leads/export.csv and /leads/export.jsonl stream the leads the
// board shows for the same filters (q, status), in board order. The answer is
// written as the rows are read (store.ExportLeads reads a page at a time), so
// memory stays flat whatever the size of the pipeline. An error after the
// first row can no longer change the status: the body then ends early, and
// the server logs it.

// exportQuery parses the export's filters, as GET /leads/ takes them.
func exportQuery(r *http.Request) (store.ExportQuery, error) {
	qv, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return store.ExportQuery{}, badRequest("the query string is malformed")
	}
	eq := store.ExportQuery{Search: qv.Get("q"), Status: qv.Get("status")}
	if msg := checkSearch(eq.Search); msg != "" {
		return store.ExportQuery{}, &httpError{status: http.StatusBadRequest, msg: "q " + msg, fields: map[string]string{"q": msg}}
	}
	// The board's filters (owner, source, value, dates, stale), read and
	// refused as GET /leads/ reads and refuses them.
	if eq.Filter, _, err = requestFilter(r); err != nil {
		return store.ExportQuery{}, err
	}
	return eq, nil
}

// exportFilename is the download's name: leads-2026-12-06.csv.
func exportFilename(ext string) string {
	return fmt.Sprintf("leads-%s.%s", time.Now().UTC().Format("2006-01-02"), ext)
}

// handleExportCSV answers GET /leads/export.csv: a header row of the export
// columns, then one row per lead, every cell neutralised against formula
// injection (store.NeutralizeCell). It starts with a UTF-8 byte order mark, so
// spreadsheets (Excel) read accents right; the import skips it.
func (s *Server) handleExportCSV(w http.ResponseWriter, r *http.Request) error {
	eq, err := exportQuery(r)
	if err != nil {
		return err
	}
	cols := store.ExportColumns()
	var cw *csv.Writer
	var bw *bufio.Writer
	record := make([]string, len(cols))
	begin := func() error {
		bw, cw = startExport(w, "text/csv; charset=utf-8", exportFilename("csv"))
		_, _ = bw.WriteString("\ufeff")
		for i, c := range cols {
			record[i] = c.Header
		}
		return cw.Write(record)
	}
	alive := exportDeadline(w)
	err = s.Store.ExportLeads(r.Context(), eq, func(l store.Lead) error {
		alive()
		if cw == nil {
			if err := begin(); err != nil {
				return err
			}
		}
		for i, c := range cols {
			record[i] = store.NeutralizeCell(c.Text(l))
		}
		return cw.Write(record)
	})
	if cw == nil { // no lead, or an error before the first: nothing was written yet
		if err != nil {
			return err
		}
		err = begin()
	}
	cw.Flush()
	return s.endExport(r, bw, err)
}

// handleExportJSONL answers GET /leads/export.jsonl: one lead per line, in the
// JSON form of GET /leads/{id} (JSON Lines; card_order is the lead's rank among
// the exported leads of its column).
func (s *Server) handleExportJSONL(w http.ResponseWriter, r *http.Request) error {
	eq, err := exportQuery(r)
	if err != nil {
		return err
	}
	var bw *bufio.Writer
	var enc *json.Encoder
	alive := exportDeadline(w)
	err = s.Store.ExportLeads(r.Context(), eq, func(l store.Lead) error {
		alive()
		if bw == nil {
			bw, _ = startExport(w, "application/x-ndjson; charset=utf-8", exportFilename("jsonl"))
			enc = json.NewEncoder(bw)
			enc.SetEscapeHTML(false)
		}
		return enc.Encode(l)
	})
	if bw == nil {
		if err != nil {
			return err
		}
		bw, _ = startExport(w, "application/x-ndjson; charset=utf-8", exportFilename("jsonl"))
	}
	return s.endExport(r, bw, err)
}

// exportDeadline returns a function to call per row: every 1,000 rows it
// moves the connection's write deadline (the server's WriteTimeout) a minute
// ahead, so a large export to a client that keeps reading is not cut off, and
// one that stops reading is.
func exportDeadline(w http.ResponseWriter) func() {
	rc := http.NewResponseController(w)
	n := 0
	return func() {
		if n%1000 == 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		}
		n++
	}
}

// startExport writes the headers of a download and returns a buffered writer
// over the body (and a CSV writer over that).
func startExport(w http.ResponseWriter, contentType, filename string) (*bufio.Writer, *csv.Writer) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	return bw, csv.NewWriter(bw)
}

// endExport flushes the body; an error after the headers went out is logged
// (the client sees a body cut short), not answered.
func (s *Server) endExport(r *http.Request, bw *bufio.Writer, err error) error {
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil && r.Context().Err() == nil {
		s.Log.ErrorContext(r.Context(), "export cut short", "path", r.URL.Path, "err", err)
	}
	return nil
}
