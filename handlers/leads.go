package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
)

const leadNotFound = "Lead not found"

// leadID reads the {id} URL parameter. An id that is not a UUID names no lead, so
// it answers 404 like any other missing lead.
func leadID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return uuid.Nil, store.ErrNotFound
	}
	return id, nil
}

// handleLeadList answers GET /leads/: an object keyed by stage name in stage
// order, each list in card order. Paging per column with limit and cursor; the
// Link header then holds a rel="next" link for every column with more leads.
func (s *Server) handleLeadList(w http.ResponseWriter, r *http.Request) error {
	qv, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("the query string is malformed")
	}
	bq := store.BoardQuery{Search: qv.Get("q"), Status: qv.Get("status")}
	if msg := checkSearch(bq.Search); msg != "" {
		return &httpError{status: http.StatusBadRequest, msg: "q " + msg, fields: map[string]string{"q": msg}}
	}
	// The board filters (board_filter.go): 400 naming a parameter that cannot be read.
	var me uuid.UUID
	if u, ok := currentUser(r); ok {
		me = u.ID
	}
	filter, given, err := parseBoardFilter(qv, me)
	if err != nil {
		return err
	}
	bq.Filter = filter
	if v := qv.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageSize {
			return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("limit must be an integer from 1 to %d", store.MaxPageSize),
				fields: map[string]string{"limit": fmt.Sprintf("must be an integer from 1 to %d", store.MaxPageSize)}}
		}
		bq.Limit = n
	}
	if v := qv.Get("cursor"); v != "" {
		after, ok := decodeCursor(v)
		if !ok {
			return &httpError{status: http.StatusBadRequest, msg: "cursor is not valid; use the link of the previous page",
				fields: map[string]string{"cursor": "is not valid"}}
		}
		if bq.Status == "" {
			return &httpError{status: http.StatusBadRequest, msg: "cursor needs status: a cursor pages through one column",
				fields: map[string]string{"status": "is required with cursor"}}
		}
		bq.After = &after
	}
	v, err := s.boardVer.get(r.Context())
	if err != nil {
		return err
	}
	h := w.Header()
	h.Add("Vary", "Accept-Encoding")
	if !noneMatch(r, boardETag(v)) {
		notModified(w, r, boardETag(v))
		return nil
	}
	key := url.Values{"q": {bq.Search}, "status": {bq.Status}, "limit": {qv.Get("limit")}, "cursor": {qv.Get("cursor")},
		"filter": {filterCacheKey(given)}, "me": {me.String()}}.Encode()
	e, err := s.listBoardCached(r.Context(), key, v, bq)
	if err != nil {
		return err
	}
	for _, l := range e.links {
		h.Add("Link", l)
	}
	if compressedAs(r) == "gzip" {
		// Compressed once per board version, not per request; the Compress
		// middleware leaves a body that has its Content-Encoding alone.
		h.Set("Content-Encoding", "gzip")
		h.Set("ETag", withCoding(boardETag(e.version), "gzip"))
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(e.gzipped())))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(e.gzipped())
		return nil
	}
	h.Set("ETag", withCoding(boardETag(e.version), compressedAs(r)))
	if compressedAs(r) != "" {
		writeJSONBytes(w, http.StatusOK, e.body) // the Compress middleware's deflate
		return nil
	}
	// One write of a known length: no chunked encoding for a body of hundreds
	// of kilobytes.
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(e.withNewline())))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(e.withNewline())
	return nil
}

// boardLinks are the Link headers of a board answer: a rel="next" link for
// every column with more leads than the page holds.
func boardLinks(board store.Board, bq store.BoardQuery) []string {
	var links []string
	for _, col := range board.Columns {
		if col.HasMore {
			next := filterValues(bq.Filter)
			next.Set("status", col.Stage.Name)
			next.Set("limit", strconv.Itoa(bq.Limit))
			next.Set("cursor", encodeCursor(col.NextAfter()))
			if bq.Search != "" {
				next.Set("q", bq.Search)
			}
			links = append(links, fmt.Sprintf(`</leads/?%s>; rel="next"; title=%q`, next.Encode(), col.Stage.Name))
		}
	}
	return links
}

// encodeBoard writes the board as a JSON object whose keys keep stage order (a Go
// map would sort them), into a buffer sized for it up front so that a large
// board is not copied over and over as it grows.
func encodeBoard(board store.Board) ([]byte, error) {
	n := 0
	for _, col := range board.Columns {
		n += len(col.Leads)
	}
	var buf bytes.Buffer
	buf.Grow(64*len(board.Columns) + leadJSONSize*n)
	enc := json.NewEncoder(&buf)
	buf.WriteByte('{')
	for i, col := range board.Columns {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(col.Stage.Name); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode ends each value with a newline
		buf.WriteByte(':')
		if err := enc.Encode(col.Leads); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// leadJSONSize is about the size of a lead's JSON with short notes (330 bytes
// for the benchmark's leads), to size a board's buffer.
const leadJSONSize = 360

// checkSearch returns what is wrong with a search text, or "".
func checkSearch(q string) string {
	return store.CheckText(q, maxSearchLen)
}

func encodeCursor(after int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("after:" + strconv.FormatInt(after, 10)))
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	key, ok := strings.CutPrefix(string(b), "after:")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(key, 10, 64)
	return n, err == nil
}

// handleLeadCreate answers POST /leads/ with 201 and the new lead.
func (s *Server) handleLeadCreate(w http.ResponseWriter, r *http.Request) error {
	m, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	in, err := leadInput(m, nil)
	if err != nil {
		return err
	}
	lead, err := s.Store.CreateLead(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/leads/"+lead.ID.String()+"/")
	setLeadETag(w, r, lead)
	writeJSON(w, http.StatusCreated, lead)
	return nil
}

// handleLeadGet answers GET /leads/{id}/.
func (s *Server) handleLeadGet(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	lead, err := s.Store.GetLead(r.Context(), id)
	if err != nil {
		return err
	}
	if !noneMatch(r, leadETag(lead)) {
		notModified(w, r, leadETag(lead))
		return nil
	}
	setLeadETag(w, r, lead)
	writeJSON(w, http.StatusOK, lead)
	return nil
}

// handleLeadUpdate answers PUT and PATCH /leads/{id}/: both update only the
// fields given, as the original backend's PUT did.
func (s *Server) handleLeadUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	ifVersions, err := ifMatchVersions(r)
	if err != nil {
		return err
	}
	m, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	var cur *store.Lead
	if hasAny(m, leadReadOnlyFields()) {
		// Compare what the body says of the server's fields with the stored lead.
		stored, err := s.Store.GetLead(r.Context(), id)
		if err != nil {
			return err
		}
		cur = &stored
	}
	in, err := leadInput(m, cur)
	if err != nil {
		return err
	}
	lead, err := s.Store.UpdateLeadIf(r.Context(), id, in, ifVersions)
	if err != nil {
		return err
	}
	setLeadETag(w, r, lead)
	writeJSON(w, http.StatusOK, lead)
	return nil
}

func hasAny(m map[string]json.RawMessage, keys []string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// handleLeadDelete answers DELETE /leads/{id}/ with 204.
func (s *Server) handleLeadDelete(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	ifVersions, err := ifMatchVersions(r)
	if err != nil {
		return err
	}
	if _, err := s.Store.DeleteLeadIf(r.Context(), id, ifVersions); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleLeadMove answers PUT /leads/{id}/status/ with body {status, card_order,
// lost_reason, lost_note, value}. card_order may be left out to put the lead
// at the end of the column; lost_reason and lost_note apply to a move into a
// lost stage, value (a won deal's final value) to any move.
func (s *Server) handleLeadMove(w http.ResponseWriter, r *http.Request) error {
	id, err := leadID(r)
	if err != nil {
		return err
	}
	ifVersions, err := ifMatchVersions(r)
	if err != nil {
		return err
	}
	m, err := decodeObject(w, r)
	if err != nil {
		return err
	}
	if err := rejectUnknown(m, "status", "card_order", "lost_reason", "lost_note", "value"); err != nil {
		return err
	}
	fields := map[string]string{}
	var status string
	if raw, ok := m["status"]; !ok || isNull(raw) {
		fields["status"] = "is required"
	} else if err := json.Unmarshal(raw, &status); err != nil {
		fields["status"] = "must be a string"
	}
	order := int(^uint32(0) >> 1) // end of the column
	if raw, ok := m["card_order"]; ok && !isNull(raw) {
		n, msg := parseOrder(raw)
		if msg != "" {
			fields["card_order"] = msg
		}
		order = n
	}
	// The outcome: why a lead was lost (for a lost stage), a won deal's value.
	var in store.LeadInput
	for _, name := range []string{"lost_reason", "lost_note", "value"} {
		raw, ok := m[name]
		if f, known := store.LeadFieldByName(name); ok && known {
			if msg := setJSONField(&in, f, raw); msg != "" {
				fields[name] = msg
			}
		}
	}
	if len(fields) > 0 {
		return &store.ValidationError{Fields: fields}
	}
	out := store.Outcome{LostReason: in.LostReason, LostNote: in.LostNote, Value: in.Value}
	lead, err := s.Store.MoveLeadOutcome(r.Context(), id, status, order, out, ifVersions)
	if err != nil {
		return err
	}
	setLeadETag(w, r, lead)
	writeJSON(w, http.StatusOK, lead)
	return nil
}
