package store

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/crmteam/crm/queries"
)

// CSV import. A file is uploaded (CreateImport: checked, its columns mapped to
// lead fields, stored in PostgreSQL in pieces), then a background job reads
// it (RunImport), a batch of rows per transaction, and an import can be undone
// (UndoImport). PreviewImport shows what an upload would do, writing nothing.
//
// Columns are mapped by the lead-field table (fields.go, LeadFieldByWord: a
// field's name, label or words, ignoring case and punctuation), else by the
// part after the last " - " (Pipedrive's "Deal - Value"), and "First name" /
// "Last name" columns are joined into the name. The person can change any
// column's field.
//
// A row's cells are read as the field table reads text (Field.Set), except
// value, which takes what spreadsheets write (ParseImportMoney), stage, which
// must name a stage (any case), and owner, a user by email or name. An empty
// cell gives nothing: a created lead takes the field's default (the first
// stage; the importing user as owner), an updated lead keeps its value.
//
// Duplicates: a row is the same person as a lead with its email (any case),
// or, when the row has no email, with its name and company (any case). The
// import's policy says what happens: skip the row, update the lead with the
// row's non-empty cells, or create a lead anyway. Rows of the same file are
// matched too: a later row is a duplicate of the lead an earlier row created.
//
// Concurrency: each batch runs in one transaction holding every stage's lock
// exclusively (in board order, as every writer does), so no write to any
// column runs beside it: the leads it appends take the keys after each
// column's last, and duplicates are matched against a board nobody changes
// meanwhile. A batch commits its rows, their leads, their events and the
// import's counts together; a job run again carries on after the last batch
// committed (rows_done).

// Import limits.
const (
	// MaxImportBytes is the largest file an import takes.
	MaxImportBytes = 50 << 20
	// MaxImportRows is the most data rows a file may have.
	MaxImportRows = 200_000
	// ImportPreviewRows is how many rows a preview shows.
	ImportPreviewRows = 20
	// importBatchRows is how many rows one transaction of the job writes.
	importBatchRows = 2000
	// importChunkBytes is the size of the pieces a file is stored in.
	importChunkBytes = 1 << 20
	// importLease is how long a worker holds an import without writing a
	// batch before another may take it over.
	importLease = 2 * time.Minute
	// maxImportErrorsShown bounds the failed rows GetImport lists.
	maxImportErrorsShown = 1000
)

// Duplicate policies of an import.
const (
	ImportSkip   = "skip"
	ImportUpdate = "update"
	ImportCreate = "create"
)

// States of an import.
const (
	ImportQueued  = "queued"
	ImportRunning = "running"
	ImportDone    = "done"
	ImportFailed  = "failed"
	ImportUndone  = "undone"
)

// Outcomes of a row.
const (
	rowCreated = "created"
	rowUpdated = "updated"
	rowSkipped = "skipped"
	rowFailed  = "failed"
)

// The parts of a name a column may hold besides the lead fields: they are
// joined, first then last, into the name when no column gives it.
const (
	ImportFirstName = "first_name"
	ImportLastName  = "last_name"
)

var nameParts = []struct {
	field, label string
	words        []string
}{
	{ImportFirstName, "First name", []string{"first name", "firstname", "given name", "forename", "first"}},
	{ImportLastName, "Last name", []string{"last name", "lastname", "surname", "family name", "last"}},
}

// ImportTarget is what a column can be imported as.
type ImportTarget struct {
	Field string `json:"field"`
	Label string `json:"label"`
}

// ImportTargets lists what a column can be imported as: every field of the
// lead-field table a client may write, then the parts of a name.
func ImportTargets() []ImportTarget {
	var out []ImportTarget
	for _, f := range leadFields {
		if f.Settable() {
			out = append(out, ImportTarget{f.Name, f.Label})
		}
	}
	for _, p := range nameParts {
		out = append(out, ImportTarget{p.field, p.label})
	}
	return out
}

func targetLabel(field string) string {
	for _, t := range ImportTargets() {
		if t.Field == field {
			return t.Label
		}
	}
	return ""
}

// ImportColumn is a column of a file and the field it is imported as ("":
// not imported).
type ImportColumn struct {
	Index  int    `json:"index"`
	Header string `json:"header"`
	Field  string `json:"field"`
	// Label is the field's label, or "not imported".
	Label string `json:"label"`
}

// guessField is the field a header names, or "".
func guessField(header string) string {
	try := func(h string) string {
		if f, ok := LeadFieldByWord(h); ok && f.Settable() {
			return f.Name
		}
		key := foldWord(h)
		for _, p := range nameParts {
			for _, w := range p.words {
				if foldWord(w) == key {
					return p.field
				}
			}
		}
		return ""
	}
	if f := try(header); f != "" {
		return f
	}
	if i := strings.LastIndex(header, " - "); i >= 0 {
		return try(header[i+3:])
	}
	return ""
}

// importColumns maps each header cell to a field: mapping's choice when it
// names the header (exactly, else without regard to case; "" for none), else
// the guess. A field goes to its first column only.
func importColumns(header []string, mapping map[string]string) ([]ImportColumn, error) {
	valid := map[string]bool{"": true}
	for _, t := range ImportTargets() {
		valid[t.Field] = true
	}
	chosen := func(h string) (string, bool) {
		if v, ok := mapping[h]; ok {
			return v, true
		}
		for k, v := range mapping {
			if strings.EqualFold(strings.TrimSpace(k), h) {
				return v, true
			}
		}
		return "", false
	}
	byField := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(mapping)) {
		v := mapping[k]
		if !valid[v] {
			return nil, fieldError("mapping", fmt.Sprintf("column %q: %q is not a lead field; fields: %s", k, v, targetNames()))
		}
		if !slices.ContainsFunc(header, func(h string) bool { return strings.EqualFold(h, strings.TrimSpace(k)) }) {
			return nil, fieldError("mapping", fmt.Sprintf("the file has no column %q; its columns: %s", k, strings.Join(header, ", ")))
		}
		if other, ok := byField[v]; ok && v != "" {
			return nil, fieldError("mapping", fmt.Sprintf("columns %q and %q both go to %s: a field takes one column", other, k, v))
		}
		byField[v] = k
	}
	cols := make([]ImportColumn, len(header))
	taken := map[string]bool{}
	for i, h := range header {
		field, ok := chosen(h)
		if !ok {
			field = guessField(h)
		}
		if field != "" && taken[field] {
			field = ""
		}
		taken[field] = field != ""
		cols[i] = ImportColumn{Index: i, Header: h, Field: field, Label: "not imported"}
		if field != "" {
			cols[i].Label = targetLabel(field)
		}
	}
	if !anyTaken(taken) {
		return nil, fieldError("file", "no column of the first row names a lead field (name, email, company, ...): the first row must be a header row naming the columns")
	}
	return cols, nil
}

func anyTaken(taken map[string]bool) bool {
	for _, v := range taken {
		if v {
			return true
		}
	}
	return false
}

func targetNames() string {
	var names []string
	for _, t := range ImportTargets() {
		names = append(names, t.Field)
	}
	return strings.Join(names, ", ")
}

// ImportUpload is a file to import and how.
type ImportUpload struct {
	FileName string
	Body     io.Reader
	// Mapping maps header cells to fields ("" for none), overriding the
	// guesses for those columns.
	Mapping map[string]string
	// Duplicates is ImportSkip (the default), ImportUpdate or ImportCreate.
	Duplicates string
}

func (up *ImportUpload) validate() error {
	up.FileName = strings.TrimSpace(up.FileName)
	if up.FileName == "" {
		up.FileName = "upload.csv"
	}
	if !utf8.ValidString(up.FileName) || strings.ContainsAny(up.FileName, "\x00\r\n") {
		return fieldError("file_name", "must be a file name")
	}
	if utf8.RuneCountInString(up.FileName) > 200 {
		up.FileName = string([]rune(up.FileName)[:200])
	}
	switch up.Duplicates {
	case "":
		up.Duplicates = ImportSkip
	case ImportSkip, ImportUpdate, ImportCreate:
	default:
		return fieldError("duplicates", "must be skip, update or create")
	}
	return nil
}

// importEnv is what reading rows needs of the database: the stages, the
// users, the lost reasons and the settings, read when a job or a preview
// starts.
type importEnv struct {
	cols           []ImportColumn
	stages         []Stage
	users          map[string][]User // by lower-cased email and name
	reasons        map[string]string // lower-cased → the list's spelling
	reasonRequired bool
	// owner is the owner of a created lead given none: the importing user.
	owner *User
	// tally is what the job knows of the columns (kept by its batches).
	tally columnTally
	// gin are the search's GIN indexes (see importGinLimit).
	gin []queries.LeadSearchIndexesRow
}

func (s *Store) loadImportEnv(ctx context.Context, q *queries.Queries, cols []ImportColumn, owner uuid.UUID) (*importEnv, error) {
	env := &importEnv{cols: cols, users: map[string][]User{}, reasons: map[string]string{}}
	var err error
	if env.stages, err = listStages(ctx, q); err != nil {
		return nil, err
	}
	if len(env.stages) == 0 {
		return nil, errors.New("no stages are defined")
	}
	users, err := q.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for _, r := range users {
		u := userFromRow(r)
		env.users[strings.ToLower(u.Email)] = append(env.users[strings.ToLower(u.Email)], u)
		if n := strings.ToLower(strings.TrimSpace(u.Name)); n != strings.ToLower(u.Email) {
			env.users[n] = append(env.users[n], u)
		}
		if u.ID == owner {
			env.owner = &u
		}
	}
	reasons, err := q.ListLostReasons(ctx)
	if err != nil {
		return nil, fmt.Errorf("list lost reasons: %w", err)
	}
	for _, r := range reasons {
		env.reasons[strings.ToLower(r.Name)] = r.Name
	}
	if env.reasonRequired, err = q.GetPipelineSettings(ctx); err != nil {
		return nil, fmt.Errorf("get pipeline settings: %w", err)
	}
	return env, nil
}

// importRow is one data row of a file as read, and what the import does with
// it.
type importRow struct {
	no     int
	record []string
	in     LeadInput
	stage  *Stage
	owner  *User
	errs   map[string]string
	// key is what duplicates are matched by.
	email, name, company string

	outcome string
	leadID  uuid.UUID
	// stageText is the cell that named no stage when the row was read (its
	// batch looks again: a stage may have been added or renamed since).
	stageText string
	// changes is the create event's changes of the row's lead, prepared as
	// the file was read for a lead in stage changesStatus (prepareCreate).
	changes, changesStatus string
	// dupOf is the earlier row of the file this row is a duplicate of (0:
	// none).
	dupOf   int
	before  map[string]string
	version int64
}

// unneutralize takes off the quote an export put before a cell a spreadsheet
// would run as a formula (NeutralizeCell).
func unneutralize(s string) string {
	if strings.HasPrefix(s, "'") && formulaAfterQuotes(s) {
		return s[1:] // the quote NeutralizeCell put in front
	}
	return s
}

// convert reads a record into a row: the fields it gives, and the errors of
// its cells by field.
func (env *importEnv) convert(no int, rec []string) *importRow {
	row := &importRow{no: no, record: rec, errs: map[string]string{}}
	if len(rec) > len(env.cols) {
		for _, c := range rec[len(env.cols):] {
			if strings.TrimSpace(c) != "" {
				row.errs["row"] = fmt.Sprintf("has %d cells where the header has %d: check the quoting of this row", len(rec), len(env.cols))
				return row
			}
		}
	}
	if len(rec) < len(env.cols) {
		for _, c := range rec {
			if strings.ContainsAny(c, "\r\n") {
				// LazyQuotes reads a quote never closed to the end of the file.
				row.errs["row"] = fmt.Sprintf("has %d cells where the header has %d, and a line break inside one: "+
					"a quote opened in this row is probably never closed, so the rows after it ran into this cell; "+
					"close the quote, then import this row and the ones after it again", len(rec), len(env.cols))
				return row
			}
		}
	}
	var first, last string
	for _, col := range env.cols {
		if col.Field == "" || col.Index >= len(rec) {
			continue
		}
		text := unneutralize(rec[col.Index])
		if strings.TrimSpace(text) == "" {
			continue
		}
		if f, ok := LeadFieldByName(col.Field); (!ok || f.Kind != KindLongText) && strings.ContainsAny(strings.TrimSpace(text), lineBreaks) {
			name := col.Field
			if ok {
				name = f.Name
			}
			row.errs[name] = "holds a line break where one line is expected (is a quote missing in this row?)"
			continue
		}
		switch col.Field {
		case ImportFirstName:
			first = strings.TrimSpace(text)
			continue
		case ImportLastName:
			last = strings.TrimSpace(text)
			continue
		}
		f, _ := LeadFieldByName(col.Field)
		if msg := CheckText(text, 100_000); msg != "" {
			row.errs[f.Name] = msg
			continue
		}
		switch f.Kind {
		case KindMoney:
			m, err := ParseImportMoney(text)
			if err != nil {
				row.errs[f.Name] = err.Error() + " (" + strconv.Quote(text) + ")"
				continue
			}
			row.in.Value = &m
		case KindStage:
			st, ok := findStage(env.stages, text)
			if !ok {
				row.errs[f.Name] = unknownStage(text, env.stages)
				row.stageText = text
				continue
			}
			row.stage = &st
			row.in.Status = &st.Name
		case KindUser:
			u, msg := env.user(strings.TrimSpace(text))
			if msg != "" {
				row.errs[f.Name] = msg
				continue
			}
			row.owner = u
			row.in.Owner = &u.Email
		default:
			if err := f.Set(&row.in, text); err != nil {
				var ve *ValidationError
				if errors.As(err, &ve) {
					row.errs[f.Name] = ve.Fields[f.Name]
				}
				continue
			}
			if f.Name == "lost_reason" {
				if c, ok := env.reasons[strings.ToLower(*row.in.LostReason)]; ok {
					row.in.LostReason = &c
				}
			}
		}
	}
	if row.in.Name == nil && row.errs["name"] == "" {
		if n := strings.TrimSpace(first + " " + last); n != "" {
			f, _ := LeadFieldByName("name")
			if err := f.Set(&row.in, n); err != nil {
				row.errs["name"] = err.(*ValidationError).Fields["name"]
			}
		}
	}
	row.email = strings.ToLower(deref(row.in.Email))
	row.name = strings.ToLower(deref(row.in.Name))
	row.company = strings.ToLower(deref(row.in.Company))
	return row
}

// unknownStage says that no stage is named text.
func unknownStage(text string, stages []Stage) string {
	return fmt.Sprintf("no stage is named %q; stages: %s", strings.TrimSpace(text), stageNames(stages))
}

// user finds a user by email or name, or says why not.
func (env *importEnv) user(text string) (*User, string) {
	us := env.users[strings.ToLower(text)]
	switch {
	case len(us) == 0:
		return nil, fmt.Sprintf("no user has the email or name %q", text)
	case len(us) > 1:
		return nil, fmt.Sprintf("%d users are named %q: give the owner's email", len(us), text)
	case !us[0].Active:
		return nil, us[0].Email + " is deactivated; choose an active user"
	}
	return &us[0], ""
}

// hasKey says whether the row can be matched to other leads.
func (r *importRow) hasKey() bool { return r.email != "" || r.name != "" }

func (r *importRow) keyText() string {
	if r.email != "" {
		return "e\x00" + r.email
	}
	return "n\x00" + r.name + "\x00" + r.company
}

// checkCreate applies a new lead's rules to the row: a name, and a reason for
// a lead created lost when the pipeline requires one.
func (env *importEnv) checkCreate(r *importRow) {
	if r.in.Name == nil {
		r.errs["name"] = "is required for a new lead (no name in this row)"
	}
	st := env.stages[0]
	if r.stage != nil {
		st = *r.stage
	}
	if st.Kind == StageLost && env.reasonRequired && strings.TrimSpace(deref(r.in.LostReason)) == "" {
		r.errs["lost_reason"] = MsgLostReasonRequired
	}
}

// decide works out what happens to each row of a batch: matches holds, by
// index in rows, the existing lead each row is a duplicate of.
func (env *importEnv) decide(rows []*importRow, matches map[int]uuid.UUID, policy string) {
	seen := map[string]*importRow{}
	for i, r := range rows {
		if len(r.errs) > 0 {
			r.outcome = rowFailed
			continue
		}
		if policy != ImportCreate && r.hasKey() {
			if id, ok := matches[i]; ok {
				r.leadID = id
				r.outcome = map[string]string{ImportSkip: rowSkipped, ImportUpdate: rowUpdated}[policy]
				if _, ok := seen[r.keyText()]; !ok {
					seen[r.keyText()] = r
				}
				continue
			}
			if earlier, ok := seen[r.keyText()]; ok {
				r.leadID, r.dupOf = earlier.leadID, earlier.no
				r.outcome = map[string]string{ImportSkip: rowSkipped, ImportUpdate: rowUpdated}[policy]
				continue
			}
		}
		env.checkCreate(r)
		if len(r.errs) > 0 {
			r.outcome = rowFailed
			continue
		}
		r.outcome = rowCreated
		r.leadID = uuid.New()
		if policy != ImportCreate && r.hasKey() {
			seen[r.keyText()] = r
		}
	}
}

// matchRows finds the existing lead each row (not failed) duplicates.
func matchRows(ctx context.Context, q *queries.Queries, rows []*importRow) (map[int]uuid.UUID, error) {
	var emails, names, companies []string
	var index []int
	for i, r := range rows {
		if len(r.errs) == 0 && r.hasKey() {
			emails, names, companies = append(emails, r.email), append(names, r.name), append(companies, r.company)
			index = append(index, i)
		}
	}
	out := map[int]uuid.UUID{}
	if len(index) == 0 {
		return out, nil
	}
	found, err := q.MatchImportLeads(ctx, queries.MatchImportLeadsParams{Emails: emails, Names: names, Companies: companies})
	if err != nil {
		return nil, fmt.Errorf("match duplicates: %w", err)
	}
	for _, m := range found {
		out[index[m.N-1]] = m.ID
	}
	return out, nil
}

// ParseImportMoney reads an amount as spreadsheets and people write it:
// "1200", "$1,200.50", "1.200,50" (decimal comma), "1 200", "€ 99",
// "20k", "1.5M". Of "," and ".", when both are there the last one is the
// decimal mark; when one of them is there once and has exactly three digits
// after it (and something other than 0 before), it separates thousands
// ("1,200" and "1.200" are both 1200); otherwise it is the decimal mark
// ("1,5" is 1.5). Negative amounts and more than two decimals are refused,
// as for any value.
func ParseImportMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	for _, cur := range []string{"USD", "EUR", "GBP", "CAD", "AUD", "CHF", "$", "€", "£", "¥"} {
		s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSuffix(s, cur), cur))
		s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSuffix(s, strings.ToLower(cur)), strings.ToLower(cur)))
	}
	s = strings.NewReplacer(" ", "", "\u00a0", "", "\u202f", "", "'", "", "’", "").Replace(s)
	exp := ""
	if n := len(s); n > 1 {
		switch s[n-1] {
		case 'k', 'K':
			s, exp = s[:n-1], "e3"
		case 'm', 'M':
			s, exp = s[:n-1], "e6"
		}
	}
	dot, comma := strings.LastIndexByte(s, '.'), strings.LastIndexByte(s, ',')
	// grouped checks the thousands groups of the whole part: "1,234,567"
	// yes, "1,2,3" no.
	grouped := func(whole, sep string) bool {
		groups := strings.Split(strings.TrimLeft(whole, "-+"), sep)
		for i, g := range groups {
			if i == 0 && (len(g) < 1 || len(g) > 3) || i > 0 && len(g) != 3 {
				return false
			}
		}
		return true
	}
	switch {
	case dot >= 0 && comma >= 0:
		th, dec := ",", dot
		if comma > dot {
			th, dec = ".", comma
		}
		if strings.Contains(s[dec+1:], th) || !grouped(s[:dec], th) {
			return 0, errors.New("must be a number")
		}
		s = strings.ReplaceAll(s[:dec], th, "") + "." + s[dec+1:]
	case dot >= 0 || comma >= 0:
		sep, at := ".", dot
		if comma >= 0 {
			sep, at = ",", comma
		}
		intPart := strings.TrimLeft(s[:strings.Index(s, sep)], "-+")
		if strings.Count(s, sep) > 1 || (len(s)-at-1 == 3 && intPart != "" && intPart != "0") {
			if !grouped(s, sep) {
				return 0, errors.New("must be a number")
			}
			s = strings.ReplaceAll(s, sep, "")
		} else {
			s = strings.Replace(s, sep, ".", 1)
		}
	}
	if s == "" {
		return 0, errors.New("must be a number")
	}
	return ParseMoney(s + exp)
}

// chunkWriter stores a file in pieces of importChunkBytes as it is read.
type chunkWriter struct {
	ctx  context.Context
	q    *queries.Queries
	id   uuid.UUID
	buf  []byte
	n    int32
	size int64
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.q.InsertImportChunk(w.ctx, queries.InsertImportChunkParams{ImportID: w.id, N: w.n, Data: w.buf}); err != nil {
		return fmt.Errorf("store import file: %w", err)
	}
	w.n++
	w.buf = w.buf[:0]
	return nil
}

// teeReader passes r on and keeps what it read in w.
type teeReader struct {
	r   io.Reader
	w   *chunkWriter
	err error
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 && t.err == nil {
		t.w.size += int64(n)
		t.w.buf = append(t.w.buf, p[:n]...)
		if len(t.w.buf) >= importChunkBytes {
			t.err = t.w.flush()
		}
	}
	if t.err != nil {
		return n, t.err
	}
	return n, err
}

// chunkReader reads a stored file back, a piece at a time.
type chunkReader struct {
	ctx context.Context
	q   *queries.Queries
	id  uuid.UUID
	n   int32
	buf []byte
	eof bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.eof {
			return 0, io.EOF
		}
		b, err := c.q.GetImportChunk(c.ctx, queries.GetImportChunkParams{ImportID: c.id, N: c.n})
		if errors.Is(err, pgx.ErrNoRows) {
			c.eof = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read import file: %w", err)
		}
		c.n++
		c.buf = b
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// ImportPreview is what an upload would do, written nowhere: the file's
// columns and the fields they go to, and the first rows with their problems.
type ImportPreview struct {
	FileName   string             `json:"file_name"`
	Encoding   string             `json:"encoding"`
	Delimiter  string             `json:"delimiter"`
	Rows       int                `json:"rows"`
	Duplicates string             `json:"duplicates"`
	Columns    []ImportColumn     `json:"columns"`
	Fields     []ImportTarget     `json:"fields"`
	Sample     []ImportPreviewRow `json:"sample"`
}

// ImportPreviewRow is a row of a preview: its cells, what the import would do
// with it ("create", "update", "skip" or "fail") and its errors by field.
type ImportPreviewRow struct {
	Row    int               `json:"row"`
	Cells  []string          `json:"cells"`
	Action string            `json:"action"`
	Errors map[string]string `json:"errors"`
	// Note says which lead or row a duplicate matches.
	Note string `json:"note,omitempty"`
}

var previewActions = map[string]string{rowCreated: "create", rowUpdated: "update", rowSkipped: "skip", rowFailed: "fail"}

// readUpload opens up's file and maps its columns; each is called with every
// record (its spreadsheet row number, or an error of its own).
func readUpload(up *ImportUpload, body io.Reader, each func(f *csvFile, cols []ImportColumn, no int, rec []string, err error) error) (*csvFile, []ImportColumn, int, error) {
	if err := up.validate(); err != nil {
		return nil, nil, 0, err
	}
	f, err := openCSV(body)
	if err != nil {
		return nil, nil, 0, err
	}
	cols, err := importColumns(f.Header, up.Mapping)
	if err != nil {
		return nil, nil, 0, err
	}
	rows := 0
	err = f.each(func(n int, rec []string, rerr error) error {
		rows = n
		if rows > MaxImportRows {
			return fieldError("file", fmt.Sprintf("has more than %d rows, the most one import takes: split it into several files", MaxImportRows))
		}
		return each(f, cols, rows+1, rec, rerr)
	})
	if err != nil {
		return nil, nil, 0, err
	}
	if rows == 0 {
		return nil, nil, 0, fieldError("file", "has a header row but no rows of leads under it")
	}
	return f, cols, rows, nil
}

// PreviewImport reads up's file and says what importing it would do with its
// first rows, writing nothing. A file that cannot be imported at all is a
// *ValidationError on "file" (empty, not text, no header).
func (s *Store) PreviewImport(ctx context.Context, up ImportUpload) (ImportPreview, error) {
	var sample []*importRow
	var env *importEnv
	f, cols, n, err := readUpload(&up, up.Body, func(f *csvFile, cols []ImportColumn, no int, rec []string, rerr error) error {
		if len(sample) >= ImportPreviewRows {
			return nil
		}
		if env == nil {
			var err error
			if env, err = s.loadImportEnv(ctx, s.q, cols, ActorFrom(ctx).UserID); err != nil {
				return translate(err)
			}
		}
		sample = append(sample, env.row(no, rec, rerr))
		return nil
	})
	if err != nil {
		return ImportPreview{}, err
	}
	matches := map[int]uuid.UUID{}
	if up.Duplicates != ImportCreate {
		if matches, err = matchRows(ctx, s.q, sample); err != nil {
			return ImportPreview{}, translate(err)
		}
	}
	env.decide(sample, matches, up.Duplicates)
	p := ImportPreview{FileName: up.FileName, Encoding: f.Encoding, Delimiter: delimiterName(f.Delimiter),
		Rows: n, Duplicates: up.Duplicates, Columns: cols, Fields: ImportTargets(), Sample: []ImportPreviewRow{}}
	for _, r := range sample {
		pr := ImportPreviewRow{Row: r.no, Cells: r.record, Action: previewActions[r.outcome], Errors: r.errs}
		if pr.Cells == nil {
			pr.Cells = []string{}
		}
		switch {
		case r.dupOf != 0:
			pr.Note = fmt.Sprintf("same person as row %d", r.dupOf)
		case r.outcome == rowSkipped || r.outcome == rowUpdated:
			if l, err := s.GetLead(ctx, r.leadID); err == nil {
				pr.Note = "matches " + l.Name
				if l.Company != "" {
					pr.Note += " (" + l.Company + ")"
				}
			}
		}
		p.Sample = append(p.Sample, pr)
	}
	return p, nil
}

// csvParseError is encoding/csv's error of one record.
type csvParseError = csv.ParseError

// row converts a record, or makes a failed row of a record that could not
// be read.
func (env *importEnv) row(no int, rec []string, rerr error) *importRow {
	if rerr != nil {
		return &importRow{no: no, record: rec, errs: map[string]string{"row": "cannot be read: " + rerr.Error()}}
	}
	return env.convert(no, rec)
}

// Import is an import: its file, options, state, counts and errors.
type Import struct {
	ID         uuid.UUID      `json:"id"`
	FileName   string         `json:"file_name"`
	FileSize   int64          `json:"file_size"`
	Encoding   string         `json:"encoding"`
	Delimiter  string         `json:"delimiter"`
	Duplicates string         `json:"duplicates"`
	Columns    []ImportColumn `json:"columns"`
	// State is queued, running, done, failed or undone.
	State     string `json:"state"`
	RowsTotal int    `json:"rows_total"`
	RowsDone  int    `json:"rows_done"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Skipped   int    `json:"skipped"`
	Failed    int    `json:"failed"`
	// Error says why a failed import stopped.
	Error string `json:"error,omitempty"`
	// Errors are the failed rows' errors by row and field (the first
	// maxImportErrorsShown rows).
	Errors     []ImportRowError `json:"errors"`
	Actor      string           `json:"imported_by"`
	CreatedAt  time.Time        `json:"created_at"`
	FinishedAt *time.Time       `json:"finished_at"`
	UndoneAt   *time.Time       `json:"undone_at"`
	Undo       *ImportUndo      `json:"undo_result,omitempty"`
	// KeptUntil is when a finished import's rows are deleted (ImportRetention);
	// Expired says that time has passed: no undo, no failed rows.
	KeptUntil *time.Time `json:"kept_until"`
	Expired   bool       `json:"expired"`

	header []string
	userID uuid.UUID
	kind   string
}

// ImportRowError is an error of one field of a row ("row" for the row as a
// whole).
type ImportRowError struct {
	Row     int    `json:"row"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Finished says whether the import's job is over.
func (imp Import) Finished() bool { return imp.State != ImportQueued && imp.State != ImportRunning }

func importFromRow(r queries.Import) (Import, error) {
	imp := Import{ID: r.ID, FileName: r.FileName, FileSize: r.FileSize, Encoding: r.Encoding, Delimiter: r.Delimiter,
		Duplicates: r.Duplicates, State: r.State, RowsTotal: int(r.RowsTotal), RowsDone: int(r.RowsDone),
		Created: int(r.Created), Updated: int(r.Updated), Skipped: int(r.Skipped), Failed: int(r.Failed),
		Error: r.Error, Actor: r.ActorName, CreatedAt: r.CreatedAt.UTC(), FinishedAt: timePtr(r.FinishedAt),
		UndoneAt: timePtr(r.UndoneAt), Errors: []ImportRowError{}, kind: r.ActorKind}
	if r.ActorUserID.Valid {
		imp.userID = r.ActorUserID.Bytes
	}
	if imp.FinishedAt != nil {
		until := imp.FinishedAt.Add(ImportRetention)
		imp.KeptUntil, imp.Expired = &until, importExpired(imp.FinishedAt, time.Now())
	}
	var mapping []string
	if err := json.Unmarshal(r.Header, &imp.header); err != nil {
		return Import{}, fmt.Errorf("decode import header: %w", err)
	}
	if err := json.Unmarshal(r.Mapping, &mapping); err != nil {
		return Import{}, fmt.Errorf("decode import mapping: %w", err)
	}
	for i, h := range imp.header {
		c := ImportColumn{Index: i, Header: h, Label: "not imported"}
		if i < len(mapping) && mapping[i] != "" {
			c.Field, c.Label = mapping[i], targetLabel(mapping[i])
		}
		imp.Columns = append(imp.Columns, c)
	}
	if len(r.Undo) > 0 {
		imp.Undo = &ImportUndo{}
		if err := json.Unmarshal(r.Undo, imp.Undo); err != nil {
			return Import{}, fmt.Errorf("decode import undo: %w", err)
		}
	}
	return imp, nil
}

// CreateImport reads up's file, checks it can be imported, and stores it with
// its column mapping as a queued import, all in one transaction: a file that
// cannot be imported (a *ValidationError on "file", "mapping" or
// "duplicates") leaves nothing behind. The caller enqueues the job
// (RunImport) after.
func (s *Store) CreateImport(ctx context.Context, up ImportUpload) (Import, error) {
	if err := up.validate(); err != nil {
		return Import{}, err
	}
	var imp Import
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		a := eventActor(ctx)
		id, err := q.InsertImport(ctx, queries.InsertImportParams{
			FileName: up.FileName, Encoding: "", Delimiter: "", Header: []byte("[]"), Mapping: []byte("[]"),
			Duplicates: up.Duplicates, ActorKind: a.kind, ActorUserID: a.userID, ActorName: a.name,
		})
		if err != nil {
			return fmt.Errorf("insert import: %w", err)
		}
		w := &chunkWriter{ctx: ctx, q: q, id: id}
		tee := &teeReader{r: up.Body, w: w}
		f, cols, n, err := readUpload(&up, tee, func(*csvFile, []ImportColumn, int, []string, error) error { return nil })
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, tee); err != nil {
			return err
		}
		if err := w.flush(); err != nil {
			return err
		}
		header, _ := json.Marshal(f.Header)
		mapping := make([]string, len(cols))
		for i, c := range cols {
			mapping[i] = c.Field
		}
		mb, _ := json.Marshal(mapping)
		if err := q.SetImportFile(ctx, queries.SetImportFileParams{ID: id, FileSize: w.size, Encoding: f.Encoding,
			Delimiter: delimiterName(f.Delimiter), Header: header, Mapping: mb, RowsTotal: int32(n)}); err != nil {
			return fmt.Errorf("record import file: %w", err)
		}
		row, err := q.GetImport(ctx, id)
		if err != nil {
			return err
		}
		imp, err = importFromRow(row)
		return err
	})
	return imp, translate(err)
}

// GetImport returns the import with id, with its failed rows' errors, or
// ErrNotFound.
func (s *Store) GetImport(ctx context.Context, id uuid.UUID) (Import, error) {
	r, err := s.q.GetImport(ctx, id)
	if err != nil {
		return Import{}, translate(err)
	}
	imp, err := importFromRow(r)
	if err != nil {
		return Import{}, err
	}
	failures, err := s.q.ListImportFailures(ctx, queries.ListImportFailuresParams{ImportID: id, AfterRow: 0, RowLimit: maxImportErrorsShown})
	if err != nil {
		return Import{}, translate(fmt.Errorf("list import failures: %w", err))
	}
	for _, f := range failures {
		errs := map[string]string{}
		if err := json.Unmarshal(f.Errors, &errs); err != nil {
			return Import{}, fmt.Errorf("decode import row errors: %w", err)
		}
		for _, k := range sortedKeys(errs) {
			imp.Errors = append(imp.Errors, ImportRowError{Row: int(f.RowNo), Field: k, Message: errs[k]})
		}
	}
	return imp, nil
}

// ListImports returns the newest imports, newest first (without their
// errors).
func (s *Store) ListImports(ctx context.Context, limit int) ([]Import, error) {
	rows, err := s.q.ListImports(ctx, clampInt32(min(limit, 100)))
	if err != nil {
		return nil, translate(fmt.Errorf("list imports: %w", err))
	}
	out := make([]Import, 0, len(rows))
	for _, r := range rows {
		imp, err := importFromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, imp)
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ImportFailures calls each with the header of the import's file (plus
// "error"), then with every failed row: its cells as read and its errors as
// one text. ErrNotFound for an unknown import, ErrImportExpired for one past
// its retention.
func (s *Store) ImportFailures(ctx context.Context, id uuid.UUID, each func(cells []string) error) error {
	r, err := s.q.GetImport(ctx, id)
	if err != nil {
		return translate(err)
	}
	imp, err := importFromRow(r)
	if err != nil {
		return err
	}
	if imp.Expired {
		return ErrImportExpired
	}
	if err := each(append(append([]string{}, imp.header...), "error")); err != nil {
		return err
	}
	after := int32(0)
	for {
		rows, err := s.q.ListImportFailures(ctx, queries.ListImportFailuresParams{ImportID: id, AfterRow: after, RowLimit: 1000})
		if err != nil {
			return translate(fmt.Errorf("list import failures: %w", err))
		}
		for _, f := range rows {
			var rec []string
			if len(f.Record) > 0 {
				if err := json.Unmarshal(f.Record, &rec); err != nil {
					return fmt.Errorf("decode failed row: %w", err)
				}
			}
			errs := map[string]string{}
			if err := json.Unmarshal(f.Errors, &errs); err != nil {
				return fmt.Errorf("decode import row errors: %w", err)
			}
			cells := make([]string, len(imp.header))
			copy(cells, rec)
			var msgs []string
			for _, k := range sortedKeys(errs) {
				msgs = append(msgs, k+": "+errs[k])
			}
			if err := each(append(cells, fmt.Sprintf("row %d: %s", f.RowNo, strings.Join(msgs, "; ")))); err != nil {
				return err
			}
			after = f.RowNo
		}
		if len(rows) < 1000 {
			return nil
		}
	}
}

// ErrImportBusy is the job of an import another worker is running: it is to
// be tried again later.
var ErrImportBusy = errors.New("the import is being run by another worker")

// RunImport is the import job: it reads the stored file of import id and
// writes its rows, a batch per transaction, carrying on after the rows a
// previous run committed. It does nothing for an import that is finished,
// and returns ErrImportBusy for one another worker holds. The changes are
// the importing user's, named "import “file” by Ann" in the history.
func (s *Store) RunImport(ctx context.Context, id uuid.UUID) (err error) {
	r, err := s.q.ClaimImport(ctx, queries.ClaimImportParams{ID: id, LeaseUntil: pgtype.Timestamptz{Time: time.Now().Add(importLease), Valid: true}})
	if errors.Is(err, pgx.ErrNoRows) {
		cur, gerr := s.q.GetImport(ctx, id)
		if errors.Is(gerr, pgx.ErrNoRows) {
			return nil // deleted: nothing to do
		}
		if gerr != nil {
			return translate(gerr)
		}
		if cur.State == ImportRunning {
			return ErrImportBusy
		}
		return nil
	}
	if err != nil {
		return translate(fmt.Errorf("claim import %s: %w", id, err))
	}
	defer func() {
		if err != nil { // the next attempt need not wait for the lease
			_ = s.q.ReleaseImport(context.WithoutCancel(ctx), id)
		}
	}()
	imp, err := importFromRow(r)
	if err != nil {
		return err
	}
	ctx = WithActor(ctx, Actor{Kind: imp.kind, UserID: imp.userID, Name: ImportActorName(imp.FileName, r.ActorName)})
	env, err := s.loadImportEnv(ctx, s.q, imp.Columns, imp.userID)
	if err != nil {
		return translate(err)
	}
	f, err := openCSV(&chunkReader{ctx: ctx, q: s.q, id: id})
	if err != nil {
		return fmt.Errorf("read import %s: %w", id, err)
	}
	// The file is read and its rows converted a batch ahead, while the batch
	// before is written: the job's work in Go overlaps the database's.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []*importRow, 1)
	readErr := make(chan error, 1)
	conv := *env // the reader's own: a batch's transaction replaces env.stages
	go func() {
		defer close(batches)
		readErr <- readImportRows(rctx, f, &conv, imp.RowsDone, batches)
	}()
	if env.gin, err = s.q.LeadSearchIndexes(ctx); err != nil {
		return translate(fmt.Errorf("list search indexes: %w", err))
	}
	n := 0
	for batch := range batches {
		if err := s.importBatch(ctx, env, imp, batch); err != nil {
			cancel()
			for range batches { // the reader stops at its next batch
			}
			return err
		}
		if n++; n%importGinBatches == 0 {
			s.cleanPendingLists(ctx, env)
		}
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("read import %s: %w", id, err)
	}
	s.cleanPendingLists(ctx, env)
	if err := s.q.FinishImport(ctx, queries.FinishImportParams{ID: id, State: ImportDone}); err != nil {
		return translate(fmt.Errorf("finish import %s: %w", id, err))
	}
	s.importProgressed(id)
	return nil
}

// readImportRows reads f's records after the first done (written by an
// earlier run), converts them, and sends them to out a batch at a time.
func readImportRows(ctx context.Context, f *csvFile, env *importEnv, done int, out chan<- []*importRow) error {
	batch := make([]*importRow, 0, importBatchRows)
	send := func() error {
		select {
		case out <- batch:
			batch = make([]*importRow, 0, importBatchRows)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := f.each(func(n int, rec []string, rerr error) error {
		if n <= done {
			return nil
		}
		r := env.row(n+1, rec, rerr)
		env.prepareCreate(r)
		batch = append(batch, r)
		if len(batch) == importBatchRows {
			return send()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(batch) > 0 {
		return send()
	}
	return nil
}

// FailImport ends an import whose job gave up, saying why; the rows it
// committed stay (an undo removes them).
func (s *Store) FailImport(ctx context.Context, id uuid.UUID, why string) error {
	defer s.importProgressed(id)
	return translate(s.q.FinishImport(ctx, queries.FinishImportParams{ID: id, State: ImportFailed, Error: why}))
}

// ImportActorName is how the history names an import's changes (a long
// file name shortened: the history's actor names are short).
func ImportActorName(fileName, by string) string {
	if r := []rune(fileName); len(r) > 60 {
		fileName = string(r[:59]) + "…"
	}
	return "import “" + fileName + "” by " + by
}

// importBatch writes a batch of rows in one transaction (see the
// concurrency note at the top of this file).
func (s *Store) importBatch(ctx context.Context, env *importEnv, imp Import, batch []*importRow) error {
	var tally columnTally
	err := s.retry(ctx, func() error {
		// A retried transaction decides afresh.
		rows := make([]*importRow, len(batch))
		for i, r := range batch {
			c := *r
			c.errs = make(map[string]string, len(r.errs))
			for k, v := range r.errs {
				c.errs[k] = v
			}
			rows[i] = &c
		}
		// A rolled-back attempt's counts go with it.
		tally = columnTally{version: env.tally.version, counts: maps.Clone(env.tally.counts)}
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			return s.importBatchTx(ctx, tx, env, &tally, imp, rows)
		})
	})
	if err != nil {
		return fmt.Errorf("import rows %d-%d: %w", batch[0].no, batch[len(batch)-1].no, err)
	}
	env.tally = tally // committed
	s.importProgressed(imp.ID)
	return nil
}

// columnTally is what a job knows of the columns between its batches: the
// number of cards of each, as its last batch left them, and the board
// version (migration 00007) when that batch was about to commit. A batch that
// finds the board at that version knows nobody changed a lead or a stage
// since, so the numbers still hold and it need not count the columns again
// (counting reads every card: about 100 ms a batch at 100,000 leads).
type columnTally struct {
	version int64
	counts  map[string]int64 // nil: count
}

// The trigram indexes of the search (GIN) take new entries into a pending
// list, which the writer that takes it past gin_pending_list_limit (4 MB by
// default) merges into the index, a few MB at a time. An import's batches
// let the lists grow to importGinLimit and the job merges them itself, in
// bulk (gin_clean_pending_list), after every importGinBatches batches and at
// the end: measured over 100,000 new leads, 7.9 s of inserts became 5.8 s
// plus 1.0 s of merging. A search reads the pending lists whole, so they are
// merged often enough to keep it quick while the import runs (about 40,000
// rows' entries at most). The job does so only when its database user owns
// the indexes (as for VACUUM); otherwise the batches leave the limit alone.
const (
	importGinLimit   = "64MB"
	importGinBatches = 10
)

// cleanPendingLists merges the pending lists of the search's GIN indexes. A
// failure is not the import's: autovacuum merges them too.
func (s *Store) cleanPendingLists(ctx context.Context, env *importEnv) {
	if !env.ownsGin() {
		return
	}
	for _, ix := range env.gin {
		_ = s.q.CleanPendingList(ctx, ix.Name)
	}
}

// ownsGin says whether the job may merge the GIN indexes' pending lists.
func (env *importEnv) ownsGin() bool {
	for _, ix := range env.gin {
		if !ix.Owned {
			return false
		}
	}
	return len(env.gin) > 0
}

// importPlans sets up an import batch's transaction:
//   - Its statements are planned without JIT compilation. The planner's cost
//     of a statement handed a batch's arrays passes jit_above_cost, and
//     compiling took 400 ms of a 440 ms duplicate match (2,000 rows a batch).
//   - Its commit waits for the write-ahead log as any other
//     (synchronous_commit stays on): the batch's events are streamed as soon
//     as it commits, and a batch the database lost in a crash after that
//     would leave every server's stream past positions handed out again.
//   - When the job merges the search indexes' pending lists itself, they
//     may grow to importGinLimit.
func importPlans(ctx context.Context, tx pgx.Tx, env *importEnv) error {
	set := "SET LOCAL jit = off"
	if env.ownsGin() {
		set += "; SET LOCAL gin_pending_list_limit = '" + importGinLimit + "'"
	}
	if _, err := tx.Exec(ctx, set); err != nil {
		return fmt.Errorf("import transaction settings: %w", err)
	}
	return nil
}

func (s *Store) importBatchTx(ctx context.Context, tx pgx.Tx, env *importEnv, tally *columnTally, imp Import, rows []*importRow) error {
	if err := importPlans(ctx, tx, env); err != nil {
		return err
	}
	q := s.q.WithTx(tx)
	stages, err := lockEveryColumn(ctx, q)
	if err != nil {
		return err
	}
	// The stages as they are now (renamed since the row was read: by id;
	// a name that matched none may match one now).
	env.stages = stages
	for _, r := range rows {
		if r.stageText != "" && r.errs["status"] != "" {
			if st, ok := findStage(stages, r.stageText); ok {
				delete(r.errs, "status")
				r.stage, r.in.Status = &st, &st.Name
			} else {
				r.errs["status"] = unknownStage(r.stageText, stages)
			}
			continue
		}
		if r.stage == nil {
			continue
		}
		if i := stageIndex(stages, r.stage.ID); i >= 0 {
			st := stages[i]
			r.stage, r.in.Status = &st, &st.Name
		} else if len(r.errs) == 0 {
			r.errs["status"] = "the stage was deleted while the file was imported"
		}
	}
	matches := map[int]uuid.UUID{}
	if imp.Duplicates != ImportCreate {
		if matches, err = matchRows(ctx, q, rows); err != nil {
			return err
		}
	}
	env.decide(rows, matches, imp.Duplicates)

	var creating []*importRow
	for _, r := range rows {
		if r.outcome == rowCreated {
			creating = append(creating, r)
		}
	}
	if len(creating) > 0 {
		if err := s.insertImportedLeads(ctx, q, env, tally, creating); err != nil {
			return err
		}
	}
	params := make([]queries.InsertImportRowsParams, 0, len(rows))
	for _, r := range rows {
		params = append(params, rowParams(imp.ID, r))
	}
	if _, err := q.InsertImportRows(ctx, params); err != nil {
		return fmt.Errorf("record import rows: %w", err)
	}
	// Updates, in the order of the file, each as any edit of a lead is made
	// (its rules, its event): under a savepoint, so a row the rules refuse
	// fails alone.
	var c [4]int32
	for _, r := range rows {
		if r.outcome != rowUpdated {
			continue
		}
		tally.counts = nil // an update may move a lead: count again
		if err := s.importUpdate(ctx, tx, env.stages, imp.ID, r); err != nil {
			return err
		}
	}
	for _, r := range rows {
		switch r.outcome {
		case rowCreated:
			c[0]++
		case rowUpdated:
			c[1]++
		case rowSkipped:
			c[2]++
		case rowFailed:
			c[3]++
		}
	}
	if tally.counts != nil {
		if tally.version, err = q.BoardVersion(ctx); err != nil {
			return fmt.Errorf("board version: %w", err)
		}
	}
	return q.ImportBatchDone(ctx, queries.ImportBatchDoneParams{
		ID: imp.ID, RowsDone: int32(rows[len(rows)-1].no - 1), Created: c[0], Updated: c[1], Skipped: c[2], Failed: c[3],
		LeaseUntil: pgtype.Timestamptz{Time: time.Now().Add(importLease), Valid: true},
	})
}

// insertImportedLeads creates the leads of a batch's created rows (with
// their versions and create events), each at the end of its column in the
// order of the file, and keeps tally's numbers of cards. The caller holds
// every stage's lock exclusively.
func (s *Store) insertImportedLeads(ctx context.Context, q *queries.Queries, env *importEnv, tally *columnTally, rows []*importRow) error {
	count := tally.counts == nil
	if !count {
		v, err := q.BoardVersion(ctx)
		if err != nil {
			return fmt.Errorf("board version: %w", err)
		}
		count = v != tally.version
	}
	cols, err := q.ImportColumns(ctx, queries.ImportColumnsParams{KeyGap: keyGap, Count: count})
	if err != nil {
		return fmt.Errorf("ends of the columns: %w", err)
	}
	next := make(map[string]int64, len(cols))
	if count {
		tally.counts = make(map[string]int64, len(cols))
	}
	for _, c := range cols {
		next[c.Status] = c.NextKey
		if count {
			tally.counts[c.Status] = c.N
		}
	}
	// A column whose keys would run out is renumbered first.
	adding := map[string]int64{}
	for _, r := range rows {
		adding[env.statusOf(r)]++
	}
	for status, n := range adding {
		if next[status]+n*keyGap < (1<<62)-keyGap {
			continue
		}
		if err := q.RenumberColumn(ctx, queries.RenumberColumnParams{Status: status, KeyGap: keyGap}); err != nil {
			return fmt.Errorf("renumber %s: %w", status, err)
		}
		end, err := q.ColumnEnd(ctx, queries.ColumnEndParams{Status: status, KeyGap: keyGap})
		if err != nil {
			return fmt.Errorf("end of %s: %w", status, err)
		}
		next[status] = end.NextKey
	}
	// The new leads' versions, drawn now so the rows hold them from the start
	// (an undo removes a lead only while it still has that version).
	versions, err := q.ReserveLeadVersions(ctx, int32(len(rows)))
	if err != nil {
		return fmt.Errorf("reserve lead versions: %w", err)
	}
	// The events committed before this batch and not numbered yet are
	// numbered first (the batch then numbers its own, holding the sequencer
	// until it commits): the stream keeps the order in which the board
	// changed, and a move made just before the batch is not replayed after
	// its new cards. Whoever changed a column committed before this
	// transaction had its stage locks, so this sees their events.
	for range 100 {
		if _, err := q.SequenceLeadEvents(ctx); err != nil {
			return fmt.Errorf("sequence events: %w", err)
		}
		left, err := q.UnsequencedEvents(ctx)
		if err != nil {
			return fmt.Errorf("sequence events: %w", err)
		}
		if !left {
			break
		}
	}
	a := eventActor(ctx)
	p := queries.InsertImportedLeadsParams{ActorKind: a.kind, ActorUserID: a.userID, ActorName: a.name}
	for i, r := range rows {
		r.version = versions[i]
		status := env.statusOf(r)
		l, ownerID := env.newLead(r, status)
		changes := r.changes
		if changes == "" || r.changesStatus != status {
			b, err := json.Marshal(createChanges(l))
			if err != nil {
				return fmt.Errorf("encode changes: %w", err)
			}
			changes = string(b)
		}
		p.Ids = append(p.Ids, l.ID.String())
		p.RowNos = append(p.RowNos, int32(r.no))
		p.Names = append(p.Names, l.Name)
		p.Companies = append(p.Companies, l.Company)
		p.Emails = append(p.Emails, l.Email)
		p.Phones = append(p.Phones, l.Phone)
		p.Cents = append(p.Cents, int64(l.Value))
		p.Notes = append(p.Notes, l.Notes)
		p.Statuses = append(p.Statuses, status)
		p.Sources = append(p.Sources, l.Source)
		p.CardOrders = append(p.CardOrders, next[status])
		p.OwnerIds = append(p.OwnerIds, ownerID.String())
		p.LostReasons = append(p.LostReasons, l.LostReason)
		p.LostNotes = append(p.LostNotes, l.LostNote)
		p.Versions = append(p.Versions, r.version)
		p.Positions = append(p.Positions, tally.counts[status])
		p.Changes = append(p.Changes, changes)
		next[status] += keyGap
		tally.counts[status]++
	}
	if _, err := q.InsertImportedLeads(ctx, p); err != nil {
		return fmt.Errorf("create imported leads: %w", err)
	}
	return nil
}

// newLead is the lead a created row makes in column status (its id, the
// row's lead id), and its owner's id (uuid.Nil: none): the importing user
// when the file names none.
func (env *importEnv) newLead(r *importRow, status string) (Lead, uuid.UUID) {
	l := Lead{ID: r.leadID, Name: deref(r.in.Name), Company: deref(r.in.Company), Email: deref(r.in.Email),
		Phone: deref(r.in.Phone), Value: derefMoney(r.in.Value), Notes: deref(r.in.Notes), Status: status,
		Source: deref(r.in.Source), LostReason: deref(r.in.LostReason), LostNote: deref(r.in.LostNote)}
	owner := r.owner
	if owner == nil && r.in.Owner == nil {
		owner = env.owner
	}
	if owner == nil {
		return l, uuid.Nil
	}
	l.Owner = &LeadOwner{ID: owner.ID, Name: owner.Name, Email: owner.Email}
	return l, owner.ID
}

// prepareCreate works out, as the file is read (beside the batch being
// written), the create event's changes of a row that may create a lead, in
// the stage it goes to as the reader knows the stages; its batch uses them
// when that stage is still the one (a tenth of a batch's own work otherwise).
func (env *importEnv) prepareCreate(r *importRow) {
	if len(r.errs) > 0 {
		return
	}
	status := env.statusOf(r)
	l, _ := env.newLead(r, status)
	if b, err := json.Marshal(createChanges(l)); err == nil {
		r.changes, r.changesStatus = string(b), status
	}
}

// statusOf is the stage a row's new lead goes to.
func (env *importEnv) statusOf(r *importRow) string {
	if r.stage != nil {
		return r.stage.Name
	}
	return env.stages[0].Name
}

// rowParams is the import_rows row of r: what became of it.
func rowParams(importID uuid.UUID, r *importRow) queries.InsertImportRowsParams {
	p := queries.InsertImportRowsParams{ImportID: importID, RowNo: int32(r.no), Outcome: r.outcome}
	if r.leadID != uuid.Nil {
		p.LeadID = pgtype.UUID{Bytes: r.leadID, Valid: true}
	}
	switch r.outcome {
	case rowFailed:
		p.Errors, _ = json.Marshal(r.errs)
		rec := r.record
		if rec == nil {
			rec = []string{}
		}
		p.Record, _ = json.Marshal(rec)
	case rowSkipped:
		msg := "the same person as an existing lead"
		if r.dupOf != 0 {
			msg = fmt.Sprintf("the same person as row %d", r.dupOf)
		}
		p.Errors, _ = json.Marshal(map[string]string{"duplicate": msg})
	case rowCreated:
		p.Version = &r.version
	}
	return p
}

// importUpdate writes an updated row to its lead, recording the lead's
// fields before and its version after; a row the lead's rules refuse (a
// lost stage without the reason the pipeline requires, a deactivated
// owner) fails alone.
func (s *Store) importUpdate(ctx context.Context, tx pgx.Tx, stages []Stage, importID uuid.UUID, r *importRow) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = sp.Rollback(ctx) }()
	q := s.q.WithTx(sp)
	cur, err := q.GetLead(ctx, r.leadID)
	if err != nil {
		return fmt.Errorf("read lead %s: %w", r.leadID, err)
	}
	before := leadFromRow(cur.Lead, int(cur.Position))
	if err := fillOwners(ctx, q, &before); err != nil {
		return err
	}
	lead, err := s.updateLead(ctx, q, r.leadID, r.in, nil)
	var ve *ValidationError
	if errors.As(err, &ve) {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return rerr
		}
		r.outcome, r.errs = rowFailed, ve.Fields
		rec := r.record
		if rec == nil {
			rec = []string{}
		}
		errs, _ := json.Marshal(r.errs)
		recb, _ := json.Marshal(rec)
		return s.q.WithTx(tx).SetImportRowResult(ctx, queries.SetImportRowResultParams{
			ImportID: importID, RowNo: int32(r.no), Outcome: rowFailed, Errors: errs, Record: recb})
	}
	if err != nil {
		return err
	}
	if err := sp.Commit(ctx); err != nil {
		return err
	}
	fields := map[string]string{}
	for _, f := range auditedFields() {
		if f.Given(r.in) {
			fields[f.Name] = f.Text(before)
		}
	}
	// What an undo needs to put the lead back in its place (see beforePosition).
	if lead.Status != before.Status {
		fields[beforePosition] = strconv.Itoa(before.CardOrder)
		if st, ok := findStage(stages, before.Status); ok {
			fields[beforeStageID] = strconv.Itoa(st.ID)
		}
		fields[beforeStageEntered] = before.StageEnteredAt.Format(time.RFC3339Nano)
		fields[beforeClosed] = ""
		if before.ClosedAt != nil {
			fields[beforeClosed] = before.ClosedAt.Format(time.RFC3339Nano)
		}
	}
	if r.in.Owner != nil && before.Owner != nil {
		fields[beforeOwnerID] = before.Owner.ID.String()
	}
	b, _ := json.Marshal(fields)
	r.version = lead.Version
	return s.q.WithTx(tx).SetImportRowResult(ctx, queries.SetImportRowResultParams{
		ImportID: importID, RowNo: int32(r.no), Outcome: rowUpdated, Before: b, Version: &r.version})
}

// ImportUndo is what an undo did: the leads it removed (to the trash), the
// leads whose updated fields it put back, and the leads it left as they are
// (Kept; KeptLeads says why, lead by lead): changed or deleted by someone
// since the import, or with a stage deleted since.
type ImportUndo struct {
	Removed   int          `json:"removed"`
	Restored  int          `json:"restored"`
	Kept      []uuid.UUID  `json:"kept"`
	KeptLeads []ImportKept `json:"kept_leads"`
	Message   string       `json:"message"`
}

// ImportKept is a lead an undo left as it is, and why.
type ImportKept struct {
	ID  uuid.UUID `json:"id"`
	Why string    `json:"why"`
}

// Why an undo leaves a lead as it is.
const (
	keptChanged = "changed by someone since the import"
	keptDeleted = "deleted by someone since the import"
)

func (rep *ImportUndo) keep(id uuid.UUID, why string) {
	rep.Kept = append(rep.Kept, id)
	rep.KeptLeads = append(rep.KeptLeads, ImportKept{ID: id, Why: why})
}

// message says what the undo did, the leads it left grouped by why.
func (rep *ImportUndo) message() string {
	var did []string
	if rep.Removed > 0 {
		did = append(did, fmt.Sprintf("removed %d %s the import created (to the trash)", rep.Removed, plural(rep.Removed, "lead", "leads")))
	}
	if rep.Restored > 0 {
		it := "it"
		if rep.Removed == 0 {
			it = "the import"
		}
		did = append(did, fmt.Sprintf("put back the fields of %d %s %s updated", rep.Restored, plural(rep.Restored, "lead", "leads"), it))
	}
	msg := "Nothing to take back"
	if len(did) > 0 {
		msg = strings.Join(did, " and ")
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	msg += "."
	var whys []string
	n := map[string]int{}
	for _, k := range rep.KeptLeads {
		if n[k.Why] == 0 {
			whys = append(whys, k.Why)
		}
		n[k.Why]++
	}
	for _, why := range whys {
		msg += fmt.Sprintf(" Kept %d as %s: %s.", n[why], plural(n[why], "it is", "they are"), why)
	}
	return msg
}

// ImportStateError is an undo of an import that cannot be undone now.
type ImportStateError struct{ State string }

func (e *ImportStateError) Error() string {
	switch e.State {
	case ImportUndone:
		return "this import was undone already"
	default:
		return "the import is still running; undo it when it has finished"
	}
}

// Is makes an ImportStateError an ErrConflict.
func (e *ImportStateError) Is(target error) bool { return target == ErrConflict }

// ImportUndoActorName is how the history names the changes of an undo of an
// import: by whoever undid it, naming the import.
func ImportUndoActorName(fileName, by string) string {
	return "undo of " + ImportActorName(fileName, by)
}

// UndoImport takes back what import id did: the leads it created go to the
// trash (restorable for 30 days) and the leads it updated get back the
// values, stage, place in the column and stage times they had, except for
// leads someone changed since the import (their version moved on): those are
// kept as they are and listed, with why. An undo puts back a past state, not
// a new edit: rules that came in since (a lost reason required, a
// deactivated owner) do not stop it. A running or undone import is an
// *ImportStateError, one past its retention ErrImportExpired; ErrNotFound for
// an unknown one.
func (s *Store) UndoImport(ctx context.Context, id uuid.UUID) (ImportUndo, error) {
	var rep ImportUndo
	err := s.inTx(ctx, func(q *queries.Queries) error {
		rep = ImportUndo{Kept: []uuid.UUID{}, KeptLeads: []ImportKept{}}
		imp, err := q.GetImportForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if imp.State != ImportDone && imp.State != ImportFailed {
			return &ImportStateError{State: imp.State}
		}
		if importExpired(timePtr(imp.FinishedAt), time.Now()) {
			return ErrImportExpired
		}
		actor := ActorFrom(ctx)
		actor.Name = ImportUndoActorName(imp.FileName, actor.Name)
		ctx := WithActor(ctx, actor)
		stages, err := lockEveryColumn(ctx, q)
		if err != nil {
			return err
		}
		gone, err := q.ImportCreatedGone(ctx, id)
		if err != nil {
			return fmt.Errorf("list deleted leads: %w", err)
		}
		a := eventActor(ctx)
		n, err := q.TrashImportedLeads(ctx, queries.TrashImportedLeadsParams{ImportID: id, ActorKind: a.kind, ActorUserID: a.userID, ActorName: a.name})
		if err != nil {
			return fmt.Errorf("remove imported leads: %w", err)
		}
		rep.Removed = int(n)
		kept, err := q.ImportCreatedKept(ctx, id)
		if err != nil {
			return fmt.Errorf("list kept leads: %w", err)
		}
		for _, k := range kept {
			rep.keep(k, keptChanged)
		}
		for _, g := range gone {
			rep.keep(g, keptDeleted)
		}
		updates, err := importUpdates(ctx, q, id)
		if err != nil {
			return err
		}
		for _, u := range updates {
			why, err := s.undoImportUpdate(ctx, q, stages, u)
			if err != nil {
				return err
			}
			if why == "" {
				rep.Restored++
			} else {
				rep.keep(u.leadID, why)
			}
		}
		rep.Message = rep.message()
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		return q.MarkImportUndone(ctx, queries.MarkImportUndoneParams{ID: id, Undo: b})
	})
	s.importProgressed(id)
	return rep, err
}

// The "fields before" of an updated row (import_rows.before) are the lead's
// fields the row gave, as text (Field.Text), by field name. A row that moved
// the lead to another stage also holds, under these keys (no field's name),
// what puts it back in its place: its position in its old column, the old
// stage's id (its name may change), and when it entered that stage and
// closed (RFC 3339, "" for open). A row that changed the owner holds the old
// owner's id. Rows written before these keys existed have only the fields:
// their undo puts the lead at the end of the column, entering it now.
const (
	beforePosition     = "_position"
	beforeStageID      = "_stage_id"
	beforeStageEntered = "_stage_entered_at"
	beforeClosed       = "_closed_at"
	beforeOwnerID      = "_owner_id"
)

// importUpdate is what an undo puts back on one lead an import updated.
type importUpdate struct {
	leadID uuid.UUID
	// before merges the lead's rows: each key as the first row that had it
	// saw it.
	before map[string]string
	// version is the lead's version after the import's last update of it.
	version int64
	// first is the row of the import's first update of the lead.
	first int32
}

// importUpdates returns the leads import id updated (and did not create),
// the last updated first: each position was read after the leads moved by
// earlier rows had left, so the leads go back last first, each to the place
// it left (as a bulk undo does).
func importUpdates(ctx context.Context, q *queries.Queries, id uuid.UUID) ([]*importUpdate, error) {
	rows, err := q.ListImportUpdates(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list imported updates: %w", err)
	}
	byLead := map[uuid.UUID]*importUpdate{}
	var out []*importUpdate
	for _, r := range rows {
		u := byLead[r.LeadID]
		if u == nil {
			u = &importUpdate{leadID: r.LeadID, before: map[string]string{}, first: r.RowNo}
			byLead[r.LeadID] = u
			out = append(out, u)
		}
		u.version = max(u.version, r.Version)
		var before map[string]string
		if err := json.Unmarshal(r.Before, &before); err != nil {
			return nil, fmt.Errorf("decode fields before row %d: %w", r.RowNo, err)
		}
		for k, v := range before {
			if _, ok := u.before[k]; !ok {
				u.before[k] = v
			}
		}
	}
	slices.Reverse(out)
	return out, nil
}

// undoImportUpdate puts back what the import changed on one lead, when its
// version is still the one the import left, written as it was (not through
// the rules of an edit), with an event of the changes. It returns why it
// left the lead as it is, "" when it put it back. The caller holds every
// stage's lock exclusively.
func (s *Store) undoImportUpdate(ctx context.Context, q *queries.Queries, stages []Stage, u *importUpdate) (string, error) {
	rows, err := q.LockLeads(ctx, []uuid.UUID{u.leadID})
	if err != nil {
		return "", fmt.Errorf("lock lead %s: %w", u.leadID, err)
	}
	if len(rows) == 0 {
		return keptDeleted, nil
	}
	cur := rows[0]
	if cur.Version != u.version {
		return keptChanged, nil
	}
	var in LeadInput
	for _, f := range auditedFields() {
		text, ok := u.before[f.Name]
		if !ok {
			continue
		}
		if f.Kind == KindMoney {
			m, err := ParseMoney(text)
			if err != nil {
				return "", fmt.Errorf("value before import of %s: %w", u.leadID, err)
			}
			in.Value = &m
			continue
		}
		*f.ptr(&in) = &text
	}
	p := queries.UpdateLeadFieldsParams{
		ID: cur.ID, Name: pick(in.Name, cur.Name), Company: pick(in.Company, cur.Company),
		Email: pick(in.Email, cur.Email), Phone: pick(in.Phone, cur.Phone), Value: cur.Value,
		Notes: pick(in.Notes, cur.Notes), Source: pick(in.Source, cur.Source), Status: cur.Status,
		CardOrder: cur.CardOrder, OwnerID: cur.OwnerID,
		LostReason: pick(in.LostReason, cur.LostReason), LostNote: pick(in.LostNote, cur.LostNote),
	}
	if in.Value != nil {
		p.Value = numericFromMoney(*in.Value)
	}
	if in.Owner != nil {
		if p.OwnerID, err = ownerBefore(ctx, q, *in.Owner, u.before[beforeOwnerID]); err != nil {
			return "", err
		}
	}
	oldPos, err := q.LeadPosition(ctx, queries.LeadPositionParams{Status: cur.Status, CardOrder: cur.CardOrder})
	if err != nil {
		return "", fmt.Errorf("position of lead %s: %w", cur.ID, err)
	}
	pos := oldPos
	var stage *Stage
	if in.Status != nil {
		i := -1
		if sid, err := strconv.Atoi(u.before[beforeStageID]); err == nil {
			i = stageIndex(stages, sid)
		} else {
			i = slices.IndexFunc(stages, func(st Stage) bool { return st.Name == *in.Status })
		}
		if i < 0 {
			return fmt.Sprintf("its stage before the import, “%s”, was deleted since", *in.Status), nil
		}
		if stages[i].Name != cur.Status {
			stage = &stages[i]
			p.Status = stage.Name
			want, err := strconv.Atoi(u.before[beforePosition])
			if err != nil {
				want = math.MaxInt32 // not recorded: the end of the column
			}
			if p.CardOrder, pos, err = keyAt(ctx, q, p.Status, int32(min(max(want, 0), math.MaxInt32))); err != nil {
				return "", err
			}
		}
	}
	before := leadFromRow(cur, int(oldPos))
	planned := cur
	planned.Name, planned.Company, planned.Email, planned.Phone = p.Name, p.Company, p.Email, p.Phone
	planned.Value, planned.Notes, planned.Source, planned.Status = p.Value, p.Notes, p.Source, p.Status
	planned.OwnerID, planned.LostReason, planned.LostNote = p.OwnerID, p.LostReason, p.LostNote
	after := leadFromRow(planned, int(pos))
	if err := fillOwners(ctx, q, &before, &after); err != nil {
		return "", err
	}
	if stage == nil && len(fieldChanges(before, after)) == 0 {
		return "", nil // the import changed nothing here
	}
	row, err := q.UpdateLeadFields(ctx, p)
	if err != nil {
		return "", fmt.Errorf("put back lead %s: %w", cur.ID, err)
	}
	if stage != nil {
		if row, err = restoreStageTimes(ctx, q, row, *stage, u.before); err != nil {
			return "", err
		}
	}
	after = leadFromRow(row, int(pos))
	if err := fillOwners(ctx, q, &after); err != nil {
		return "", err
	}
	changes := fieldChanges(before, after)
	action := EventUpdate
	if stage != nil {
		// As move_lead records a move: the position from 1.
		action = EventMove
		changes = append(changes, FieldChange{Field: "position", Old: fmt.Sprint(oldPos + 1), New: fmt.Sprint(pos + 1)})
	}
	return "", recordEvent(ctx, q, cur.ID, action, changes)
}

// ownerBefore is the owner a lead had before an import: the user with the
// recorded id, else the one with the email text (deactivated or not: the undo
// puts back what was); nobody when neither exists any more (deleting a user
// leaves their leads with nobody).
func ownerBefore(ctx context.Context, q *queries.Queries, email, id string) (pgtype.UUID, error) {
	var (
		u   queries.User
		err error
	)
	if uid, perr := uuid.Parse(id); perr == nil {
		u, err = q.GetUser(ctx, uid)
	} else if email != "" {
		u, err = q.GetUserByEmail(ctx, email)
	} else {
		return pgtype.UUID{}, nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return pgtype.UUID{}, nil
	}
	if err != nil {
		return pgtype.UUID{}, fmt.Errorf("find owner before import: %w", err)
	}
	return pgtype.UUID{Bytes: u.ID, Valid: true}, nil
}

// restoreStageTimes gives row, just put back into stage st, the times it
// entered that stage and closed before the import (in a write of its own:
// migration 00012's trigger sets them on the write that changes the stage).
// closed_at is put back only when it agrees with the stage's kind now.
func restoreStageTimes(ctx context.Context, q *queries.Queries, row queries.Lead, st Stage, before map[string]string) (queries.Lead, error) {
	entered, err := time.Parse(time.RFC3339Nano, before[beforeStageEntered])
	if err != nil {
		return row, nil // not recorded
	}
	closed := row.ClosedAt
	if text, ok := before[beforeClosed]; ok {
		var c pgtype.Timestamptz
		if text != "" {
			t, err := time.Parse(time.RFC3339Nano, text)
			if err != nil {
				return queries.Lead{}, fmt.Errorf("closed_at before import of %s: %w", row.ID, err)
			}
			c = pgtype.Timestamptz{Time: t, Valid: true}
		}
		if c.Valid == (st.Kind != StageOpen) {
			closed = c
		}
	}
	row, err = q.SetLeadStageTimes(ctx, queries.SetLeadStageTimesParams{ID: row.ID, StageEnteredAt: entered, ClosedAt: closed})
	if err != nil {
		return queries.Lead{}, fmt.Errorf("put back stage times of lead %s: %w", row.ID, err)
	}
	return row, nil
}

// keyAt is the sort key that puts a card at position pos of column status
// (past its last card: at its end), and the position the card takes. The
// caller holds the column's stage lock exclusively (a renumbering, when two
// neighbours have no room between them, needs it).
func keyAt(ctx context.Context, q *queries.Queries, status string, pos int32) (int64, int32, error) {
	const keyLimit = int64(1) << 62 // as in move_lead
	for range 2 {
		keys, err := q.ColumnKeysFrom(ctx, queries.ColumnKeysFromParams{Status: status, FromPosition: max(pos-1, 0)})
		if err != nil {
			return 0, 0, fmt.Errorf("keys of %s: %w", status, err)
		}
		switch {
		case len(keys) == 0 || (pos > 0 && len(keys) == 1):
			return endKey(ctx, q, status) // an empty column, or past its last card
		case pos == 0:
			if keys[0]-keyGap > -keyLimit {
				return keys[0] - keyGap, 0, nil
			}
		case keys[1]-keys[0] >= 2:
			return keys[0] + (keys[1]-keys[0])/2, pos, nil
		}
		if err := q.RenumberColumn(ctx, queries.RenumberColumnParams{Status: status, KeyGap: keyGap}); err != nil {
			return 0, 0, fmt.Errorf("renumber %s: %w", status, err)
		}
	}
	return 0, 0, fmt.Errorf("no room for a card in %s after renumbering it", status)
}
