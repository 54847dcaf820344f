package handlers

import (
	"bytes"
	"cmp"
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

// leadServerFields are the lead's JSON members the server sets that are not in
// the lead-field table; the table's read-only fields are added to them.
var leadServerFields = []string{"id", "card_order", "updated_at", "version", "stage_entered_at"}

// leadReadOnlyFields are the members a client may not write.
func leadReadOnlyFields() []string {
	out := append([]string{}, leadServerFields...)
	for _, f := range store.LeadFields() {
		if f.ReadOnly {
			out = append(out, f.Name)
		}
	}
	return out
}

// leadInput turns a decoded JSON object into a store.LeadInput, field by field
// as the lead-field table describes them. null clears an optional field (and
// is refused for a required one: name, status); value accepts a JSON number or
// a string holding one, as the original backend did; owner is a user's email
// or id, or the object a lead's owner is shown as (its id counts), null for
// nobody.
//
// The server's own fields (id, card_order, created_at, updated_at, version, and
// the table's read-only ones) cannot be written. On an update (cur is the
// stored lead) a body may still carry them, so a script can PUT back the
// object it read: id and card_order are then ignored when they equal the
// stored values and refused when they differ (a different card_order is a
// move, which PUT /leads/{id}/status/ does); the timestamps and the version
// are ignored (If-Match is how a client makes a write depend on the version).
// On a create (cur is nil) each is refused.
func leadInput(m map[string]json.RawMessage, cur *store.Lead) (store.LeadInput, error) {
	fields := map[string]string{}
	readOnly := leadReadOnlyFields()
	for _, k := range readOnly {
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
	allowed := append([]string{}, readOnly...)
	for _, f := range store.LeadFields() {
		if !f.ReadOnly {
			allowed = append(allowed, f.Name)
		}
	}
	if err := rejectUnknown(m, allowed...); err != nil {
		return store.LeadInput{}, err
	}
	var in store.LeadInput
	for _, f := range store.LeadFields() {
		raw, ok := m[f.Name]
		if !ok || f.ReadOnly {
			continue
		}
		if msg := setJSONField(&in, f, raw); msg != "" {
			fields[f.Name] = msg
		}
	}
	if len(fields) > 0 {
		return in, &store.ValidationError{Fields: fields}
	}
	return in, nil
}

// setJSONField sets field f of in from its JSON value raw, and returns what is
// wrong with it, or "".
func setJSONField(in *store.LeadInput, f store.Field, raw json.RawMessage) string {
	if f.Kind == store.KindMoney {
		v, msg := parseValue(raw)
		if msg == "" {
			in.Value = &v
		}
		return msg
	}
	var text string
	switch {
	case isNull(raw):
		if f.Required {
			return "must not be null"
		}
	case f.Kind == store.KindUser && bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")):
		var ref struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		}
		if json.Unmarshal(raw, &ref) != nil || (ref.ID == "" && ref.Email == "") {
			return "must be a user's email or id"
		}
		text = cmp.Or(ref.ID, ref.Email)
	default:
		if json.Unmarshal(raw, &text) != nil {
			if f.Kind == store.KindUser {
				return "must be a user's email or id"
			}
			return "must be a string"
		}
	}
	var verr *store.ValidationError
	if err := f.Set(in, text); errors.As(err, &verr) {
		return verr.Fields[f.Name]
	}
	return ""
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
