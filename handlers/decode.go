package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crmteam/crm/store"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 1 << 20

// decodeObject reads the request body as one JSON object and returns its members
// undecoded, so each field can be checked on its own (unknown, null, wrong type).
func decodeObject(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, errStatus(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return nil, errStatus(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, badRequest("could not read the request body")
	}
	body = bytes.TrimSpace(body)
	if !utf8.Valid(body) {
		// encoding/json would quietly turn the bad bytes into U+FFFD.
		return nil, badRequest("request body is not valid UTF-8")
	}
	if len(body) == 0 {
		return nil, badRequest("request body is empty; send a JSON object")
	}
	if body[0] != '{' {
		return nil, badRequest("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		return nil, badRequest("malformed JSON: " + jsonErrorText(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("malformed JSON: unexpected data after the object")
	}
	return m, nil
}

func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// rejectUnknown fails with 400 naming every member of m not in allowed.
func rejectUnknown(m map[string]json.RawMessage, allowed ...string) error {
	fields := map[string]string{}
	for k := range m {
		if !slices.Contains(allowed, k) {
			fields[k] = "unknown field"
		}
	}
	if len(fields) == 0 {
		return nil
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, fmt.Sprintf("%q", k))
	}
	sort.Strings(names)
	return &httpError{status: http.StatusBadRequest, msg: "unknown field " + strings.Join(names, ", "), fields: fields}
}

var (
	leadTextFields     = []string{"name", "company", "email", "phone", "notes", "status", "source"}
	leadReadOnlyFields = []string{"id", "card_order", "created_at", "updated_at", "version"}
	leadWritableFields = append(append([]string{}, leadTextFields...), "value")
)

// leadInput turns a decoded JSON object into a store.LeadInput. null clears an
// optional text field (and is refused for name and status); value accepts a JSON
// number or a string holding one, as the original backend did.
//
// The server's own fields (id, card_order, created_at, updated_at, version) cannot be
// written. On an update (cur is the stored lead) a body may still carry them, so a
// script can PUT back the object it read: id and card_order are then ignored when
// they equal the stored values and refused when they differ (a different
// card_order is a move, which PUT /leads/{id}/status/ does); the timestamps and
// the version are ignored (If-Match is how a client makes a write depend on the
// version). On a create (cur is nil) each is refused.
func leadInput(m map[string]json.RawMessage, cur *store.Lead) (store.LeadInput, error) {
	fields := map[string]string{}
	for _, k := range leadReadOnlyFields {
		raw, ok := m[k]
		if !ok || (cur != nil && readOnlyUnchanged(k, raw, cur)) {
			continue
		}
		if k == "card_order" {
			fields[k] = "is read-only here; move a lead with PUT /leads/{id}/status/"
		} else {
			fields[k] = "is set by the server and cannot be written"
		}
	}
	allowed := append(append([]string{}, leadWritableFields...), leadReadOnlyFields...)
	if err := rejectUnknown(m, allowed...); err != nil {
		return store.LeadInput{}, err
	}
	var in store.LeadInput
	targets := map[string]**string{
		"name": &in.Name, "company": &in.Company, "email": &in.Email, "phone": &in.Phone,
		"notes": &in.Notes, "status": &in.Status, "source": &in.Source,
	}
	for _, k := range leadTextFields {
		raw, ok := m[k]
		if !ok {
			continue
		}
		if isNull(raw) {
			if k == "name" || k == "status" {
				fields[k] = "must not be null"
				continue
			}
			empty := ""
			*targets[k] = &empty
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			fields[k] = "must be a string"
			continue
		}
		*targets[k] = &s
	}
	if raw, ok := m["value"]; ok {
		v, msg := parseValue(raw)
		if msg != "" {
			fields["value"] = msg
		} else {
			in.Value = &v
		}
	}
	if len(fields) > 0 {
		return in, &store.ValidationError{Fields: fields}
	}
	return in, nil
}

// readOnlyUnchanged reports whether a server field sent in an update matches the
// stored lead (the timestamps always count as unchanged: they are the server's).
func readOnlyUnchanged(k string, raw json.RawMessage, cur *store.Lead) bool {
	switch k {
	case "id":
		var id string
		return json.Unmarshal(raw, &id) == nil && id == cur.ID.String()
	case "card_order":
		n, msg := parseOrder(raw)
		return msg == "" && n == cur.CardOrder
	default:
		return true
	}
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

func parseValue(raw json.RawMessage) (store.Money, string) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return 0, ""
	}
	var text string
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, "must be a number"
		}
	} else {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, "must be a number"
		}
		text = n.String()
	}
	m, err := store.ParseMoney(text)
	if err != nil {
		return 0, err.Error()
	}
	return m, ""
}

// parseOrder reads a card position: a JSON integer. Positions out of range, even
// beyond 32 bits, are clamped by the move like any other.
func parseOrder(raw json.RawMessage) (int, string) {
	raw = bytes.TrimSpace(raw)
	var n json.Number
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return 0, "must be an integer"
	}
	f, err := strconv.ParseFloat(n.String(), 64)
	if (err != nil && !math.IsInf(f, 0)) || f != math.Trunc(f) {
		return 0, "must be an integer"
	}
	return int(max(min(f, math.MaxInt32), math.MinInt32)), ""
}
