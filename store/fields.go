package store

import (
	"strings"
	"unicode"
)

// The lead-field table: the one description of a lead's fields. Each row says
// a field's API name (also its form name, its name in the audit trail and the
// event stream's changes), its label, its kind and length limit, the words
// people use for it, and how it is read from text and shown as text. It drives
// LeadInput.Normalize and Validate, the audit diff, the API's and the board
// form's decoding, the views, the assistant's words and tool schemas, and CSV
// import and export. A new field is one row here (plus its column and its
// LeadInput member).
//
// The contract, for every package that reads or writes leads:
//   - LeadFields() lists the fields in their canonical order (the audit
//     trail's and an export's column order). Fields with ReadOnly set are shown
//     but never written by a client (created_at, closed_at).
//   - LeadFieldByName(name) finds a field by its API name.
//   - LeadFieldByWord(text) finds a field by any of its names, its label or its
//     words, ignoring case, spaces and punctuation ("E-mail", "Deal value",
//     "lost reason"): a CSV header, a word in a sentence.
//   - Field.Text(lead) is the lead's field as text: what an export writes and
//     the audit trail records (value "1250.00", owner the owner's email, "" for
//     none; times RFC 3339).
//   - Field.Set(&in, text) sets the field on a LeadInput from text as a person
//     typed it (value "$12,500.50"; owner an email or id, "" for none) and
//     returns a *ValidationError naming the field when the text is not valid
//     for it (the length limits and formats Validate checks, value's syntax).
//     Whether a status names a stage and an owner a user is checked by the
//     store when the input is written.
//
// Outcomes (outcomes.go): LeadInput.LostReason and LostNote apply to a lead in
// a lost stage; MoveLeadOutcome is a move that carries them and a won deal's
// value. Every write sets closed_at and stage_entered_at (migration 00012's
// trigger); every write path (CreateLead, UpdateLead, MoveLead*) refuses a move into a lost stage without a reason
// when PipelineSettings.LostReasonRequired, with a *ValidationError on
// "lost_reason".

// FieldKind is how a field's text is read and checked.
type FieldKind int

// Kinds of field.
const (
	// KindText is one line of text, trimmed: a line break (CR or LF) inside
	// it is refused (MsgOneLine), as it is in every kind but KindLongText.
	KindText FieldKind = iota
	// KindLongText is text kept as typed (notes): its layout is the author's.
	KindLongText
	// KindEmail is an email address, or empty.
	KindEmail
	// KindMoney is an amount of dollars (Money).
	KindMoney
	// KindStage is the name of a stage.
	KindStage
	// KindUser is a user, by email or id; empty for nobody.
	KindUser
	// KindTime is a moment, shown in RFC 3339; always read-only.
	KindTime
)

// Field describes one field of a lead.
type Field struct {
	// Name is the API's and the form's name: "email".
	Name string
	// Label is how people see it named: "Email".
	Label string
	Kind  FieldKind
	// MaxLen is the most characters its text may have (0: no text limit).
	MaxLen int
	// Required fields may never be empty; a new lead must have them unless
	// they have a default (HasDefault: status, the first stage).
	Required   bool
	HasDefault bool
	// ReadOnly fields are set by the app, never by a client.
	ReadOnly bool
	// Words are what else people call it ("e-mail", "deal size"), lower case.
	Words []string

	text func(l *Lead) string
	// ptr is the field's text member of a LeadInput (nil for value, and for
	// the read-only fields).
	ptr func(in *LeadInput) **string
}

// leadFields is the table. The order is the audit trail's and an export's.
var leadFields = []Field{
	{Name: "name", Label: "Name", Kind: KindText, MaxLen: MaxNameLen, Required: true,
		Words: []string{"full name", "contact", "contact name", "person", "lead name"},
		text:  func(l *Lead) string { return l.Name }, ptr: func(in *LeadInput) **string { return &in.Name }},
	{Name: "company", Label: "Company", Kind: KindText, MaxLen: MaxCompanyLen,
		Words: []string{"company name", "organization", "organisation", "organization name", "organisation name", "account", "business", "employer", "firm"},
		text:  func(l *Lead) string { return l.Company }, ptr: func(in *LeadInput) **string { return &in.Company }},
	{Name: "email", Label: "Email", Kind: KindEmail, MaxLen: MaxEmailLen,
		Words: []string{"e-mail", "mail", "email address", "e-mail address"},
		text:  func(l *Lead) string { return l.Email }, ptr: func(in *LeadInput) **string { return &in.Email }},
	{Name: "phone", Label: "Phone", Kind: KindText, MaxLen: MaxPhoneLen,
		Words: []string{"phone number", "mobile", "cell", "tel", "telephone"},
		text:  func(l *Lead) string { return l.Phone }, ptr: func(in *LeadInput) **string { return &in.Phone }},
	{Name: "value", Label: "Deal value", Kind: KindMoney,
		Words: []string{"deal value", "amount", "deal size", "worth", "deal amount", "price", "revenue"},
		text:  func(l *Lead) string { return l.Value.String() }},
	{Name: "notes", Label: "Notes", Kind: KindLongText, MaxLen: MaxNotesLen,
		Words: []string{"note", "comment", "comments", "description", "details"},
		text:  func(l *Lead) string { return l.Notes }, ptr: func(in *LeadInput) **string { return &in.Notes }},
	{Name: "status", Label: "Stage", Kind: KindStage, MaxLen: maxStageLen, Required: true, HasDefault: true,
		Words: []string{"stage", "pipeline stage", "deal stage", "column"},
		text:  func(l *Lead) string { return l.Status }, ptr: func(in *LeadInput) **string { return &in.Status }},
	{Name: "source", Label: "Source", Kind: KindText, MaxLen: MaxSourceLen,
		Words: []string{"lead source", "channel", "origin", "came from", "referrer", "original source"},
		text:  func(l *Lead) string { return l.Source }, ptr: func(in *LeadInput) **string { return &in.Source }},
	{Name: "owner", Label: "Owner", Kind: KindUser, MaxLen: MaxEmailLen,
		Words: []string{"owned by", "assigned to", "assignee", "sales rep", "rep", "account owner", "deal owner", "contact owner", "lead owner", "salesperson"},
		text:  func(l *Lead) string { return l.Owner.email() }, ptr: func(in *LeadInput) **string { return &in.Owner }},
	{Name: "lost_reason", Label: "Lost reason", Kind: KindText, MaxLen: MaxLostReasonLen,
		Words: []string{"reason", "loss reason", "reason lost", "why lost"},
		text:  func(l *Lead) string { return l.LostReason }, ptr: func(in *LeadInput) **string { return &in.LostReason }},
	{Name: "lost_note", Label: "Lost note", Kind: KindLongText, MaxLen: MaxLostNoteLen,
		Words: []string{"loss note", "lost notes", "lost comment"},
		text:  func(l *Lead) string { return l.LostNote }, ptr: func(in *LeadInput) **string { return &in.LostNote }},
	{Name: "created_at", Label: "Created", Kind: KindTime, ReadOnly: true,
		Words: []string{"created", "date created", "created on", "added"},
		text:  func(l *Lead) string { return formatTime(&l.CreatedAt) }},
	{Name: "closed_at", Label: "Closed", Kind: KindTime, ReadOnly: true,
		Words: []string{"closed", "date closed", "closed on", "close date"},
		text:  func(l *Lead) string { return formatTime(l.ClosedAt) }},
}

// LeadFields returns the lead-field table in its canonical order. The caller
// may keep the slice; changing it changes nothing else.
func LeadFields() []Field {
	out := make([]Field, len(leadFields))
	copy(out, leadFields)
	return out
}

// LeadFieldByName returns the field whose API name is name.
func LeadFieldByName(name string) (Field, bool) {
	for _, f := range leadFields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// LeadFieldByWord returns the field that text names: its API name, its label
// or one of its words, compared without regard to case, spaces and
// punctuation ("E-Mail", "deal_value", "Lead Source").
func LeadFieldByWord(text string) (Field, bool) {
	key := foldWord(text)
	if key == "" {
		return Field{}, false
	}
	for _, f := range leadFields {
		if foldWord(f.Name) == key || foldWord(f.Label) == key {
			return f, true
		}
	}
	for _, f := range leadFields {
		for _, w := range f.Words {
			if foldWord(w) == key {
				return f, true
			}
		}
	}
	return Field{}, false
}

// foldWord is s in lower case with only its letters and digits.
func foldWord(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Text returns the lead's field as text (see the contract above).
func (f Field) Text(l Lead) string { return f.text(&l) }

// Settable says whether Set can write the field.
func (f Field) Settable() bool { return !f.ReadOnly }

// Given says whether in gives the field.
func (f Field) Given(in LeadInput) bool {
	if f.Kind == KindMoney {
		return in.Value != nil
	}
	return f.ptr != nil && *f.ptr(&in) != nil
}

// Copy sets the field of to to the field of from (given or not).
func (f Field) Copy(to, from *LeadInput) {
	if f.Kind == KindMoney {
		to.Value = from.Value
	} else if f.ptr != nil {
		*f.ptr(to) = *f.ptr(from)
	}
}

// Set sets the field on in from text as a person typed it, and checks it as
// Validate would; the error is a *ValidationError naming the field.
func (f Field) Set(in *LeadInput, text string) error {
	switch {
	case f.ReadOnly:
		return fieldError(f.Name, "is set by the app and cannot be written")
	case f.Kind == KindMoney:
		m, err := ParseMoneyText(text)
		if err != nil {
			return fieldError(f.Name, err.Error())
		}
		in.Value = &m
		return nil
	}
	if f.Kind != KindLongText {
		text = strings.TrimSpace(text)
	}
	*f.ptr(in) = &text
	errs := map[string]string{}
	f.check(errs, in)
	if msg := errs[f.Name]; msg != "" {
		return fieldError(f.Name, msg)
	}
	return nil
}

// check sets errs[f.Name] when in's value of the field is not valid.
func (f Field) check(errs map[string]string, in *LeadInput) {
	if f.Kind == KindMoney {
		if in.Value != nil && (*in.Value < 0 || *in.Value > MaxMoney) {
			errs[f.Name] = "must be between 0 and 999999999999.99"
		}
		return
	}
	if f.ptr == nil {
		return
	}
	p := *f.ptr(in)
	if p == nil || checkText(errs, f.Name, p, f.MaxLen) {
		return
	}
	switch {
	case f.Kind != KindLongText && strings.ContainsAny(*p, lineBreaks):
		errs[f.Name] = MsgOneLine
	case f.Required && *p == "":
		errs[f.Name] = "must not be empty"
	case f.Kind == KindEmail && *p != "" && !looksLikeEmail(*p):
		errs[f.Name] = "must be an email address like name@example.com"
	}
}

// normalize trims the field's text unless it is kept as typed.
func (f Field) normalize(in *LeadInput) {
	if f.ptr == nil || f.Kind == KindLongText {
		return
	}
	if p := *f.ptr(in); p != nil {
		*p = strings.TrimSpace(*p)
	}
}
