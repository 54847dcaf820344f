package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

func TestLeadFieldByWord(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, want string }{
		{"E-Mail", "email"}, {"email address", "email"}, {"Deal value", "value"}, {"AMOUNT", "value"},
		{"deal_size", "value"}, {"Company Name", "company"}, {"organization", "company"}, {"Phone Number", "phone"},
		{"mobile", "phone"}, {"Lead Source", "source"}, {"channel", "source"}, {"Full name", "name"},
		{"Stage", "status"}, {"status", "status"}, {"Owner", "owner"}, {"assigned to", "owner"},
		{"Lost reason", "lost_reason"}, {"lost_note", "lost_note"}, {"notes", "notes"}, {"Created", "created_at"},
		{"unknown column", ""}, {"", ""}, {"---", ""},
	} {
		f, ok := store.LeadFieldByWord(tc.text)
		if got := f.Name; got != tc.want || ok != (tc.want != "") {
			t.Errorf("LeadFieldByWord(%q) = %q, %v; want %q", tc.text, got, ok, tc.want)
		}
	}
}

func TestFieldSetAndText(t *testing.T) {
	t.Parallel()
	field := func(name string) store.Field {
		f, ok := store.LeadFieldByName(name)
		if !ok {
			t.Fatalf("no field %q", name)
		}
		return f
	}
	var in store.LeadInput
	if err := field("value").Set(&in, "$12,500.50"); err != nil || in.Value == nil || *in.Value != 1_250_050 {
		t.Errorf("set value: %v, %v", err, in.Value)
	}
	if err := field("email").Set(&in, " ann@acme.test "); err != nil || *in.Email != "ann@acme.test" {
		t.Errorf("set email: %v, %q", err, *in.Email)
	}
	for _, tc := range []struct{ field, text string }{
		{"name", strings.Repeat("x", store.MaxNameLen+1)},
		{"name", "  "},
		{"email", "not an email"},
		{"value", "twelve"},
		{"phone", strings.Repeat("1", store.MaxPhoneLen+1)},
		{"lost_reason", strings.Repeat("r", store.MaxLostReasonLen+1)},
		{"created_at", "2024-01-01"},
	} {
		err := field(tc.field).Set(&in, tc.text)
		var verr *store.ValidationError
		if !errors.As(err, &verr) || verr.Fields[tc.field] == "" {
			t.Errorf("set %s to %.20q: got %v, want a validation error naming %s", tc.field, tc.text, err, tc.field)
		}
	}
	l := store.Lead{Name: "Jane", Value: 1_250_050, Owner: &store.LeadOwner{Name: "Ann Lee", Email: "ann@acme.test"}}
	for name, want := range map[string]string{"name": "Jane", "value": "12500.50", "owner": "ann@acme.test", "closed_at": ""} {
		if got := field(name).Text(l); got != want {
			t.Errorf("%s text: got %q, want %q", name, got, want)
		}
	}
	if got := l.Owner.Initials(); got != "AL" {
		t.Errorf("initials: got %q, want AL", got)
	}
}

func TestClosedAtOnEveryPath(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()

	won, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("Won at once"), Status: ptr("Closed won")})
	if err != nil {
		t.Fatal(err)
	}
	if won.ClosedAt == nil {
		t.Error("created in a won stage: closed_at is nil")
	}
	open := mustCreate(t, st, "Open", "Interest")
	if open.ClosedAt != nil || open.StageEnteredAt.IsZero() {
		t.Errorf("open lead: closed_at %v, stage_entered_at %v", open.ClosedAt, open.StageEnteredAt)
	}

	// An update changing the stage closes, reopens.
	l, err := st.UpdateLead(ctx, open.ID, store.LeadInput{Status: ptr("closed lost")})
	if err != nil {
		t.Fatal(err)
	}
	if l.ClosedAt == nil || l.Status != "Closed lost" || !l.StageEnteredAt.After(open.StageEnteredAt) {
		t.Errorf("update into lost: closed_at %v, status %q, entered %v (was %v)", l.ClosedAt, l.Status, l.StageEnteredAt, open.StageEnteredAt)
	}
	l, err = st.UpdateLead(ctx, open.ID, store.LeadInput{Status: ptr("Negotiation")})
	if err != nil {
		t.Fatal(err)
	}
	if l.ClosedAt != nil {
		t.Errorf("update back to open: closed_at %v, want nil", l.ClosedAt)
	}

	// A move closes, a move within a stage keeps, a move back reopens.
	l, err = st.MoveLead(ctx, open.ID, "Closed won", 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.ClosedAt == nil {
		t.Fatal("move into won: closed_at is nil")
	}
	closed, entered := *l.ClosedAt, l.StageEnteredAt
	l, err = st.MoveLead(ctx, open.ID, "Closed won", 5)
	if err != nil {
		t.Fatal(err)
	}
	if l.ClosedAt == nil || !l.ClosedAt.Equal(closed) || !l.StageEnteredAt.Equal(entered) {
		t.Errorf("move within won: closed_at %v entered %v, want %v %v", l.ClosedAt, l.StageEnteredAt, closed, entered)
	}
	l, err = st.MoveLead(ctx, open.ID, "Interest", 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.ClosedAt != nil || !l.StageEnteredAt.After(entered) {
		t.Errorf("move back to open: closed_at %v, entered %v", l.ClosedAt, l.StageEnteredAt)
	}
	got, err := st.GetLead(ctx, open.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClosedAt != nil || !got.StageEnteredAt.Equal(l.StageEnteredAt) {
		t.Errorf("stored: closed_at %v entered %v", got.ClosedAt, got.StageEnteredAt)
	}
}

func TestLostReason(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	if err := st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	if s, err := st.GetPipelineSettings(ctx); err != nil || !s.LostReasonRequired {
		t.Fatalf("settings: %+v, %v", s, err)
	}
	lead := mustCreate(t, st, "Bob", "Negotiation")

	wantRequired := func(what string, err error) {
		t.Helper()
		var verr *store.ValidationError
		if !errors.As(err, &verr) || !strings.Contains(verr.Fields["lost_reason"], "lost_reason") {
			t.Errorf("%s: got %v, want a validation error on lost_reason naming it", what, err)
		}
	}
	_, err := st.MoveLead(ctx, lead.ID, "Closed lost", 0)
	wantRequired("move", err)
	_, err = st.MoveLeadOutcome(ctx, lead.ID, "Closed lost", 0, store.Outcome{LostReason: ptr("  ")}, nil)
	wantRequired("move with a blank reason", err)
	_, err = st.UpdateLead(ctx, lead.ID, store.LeadInput{Status: ptr("Closed lost")})
	wantRequired("update", err)
	_, err = st.CreateLead(ctx, store.LeadInput{Name: ptr("Lost at once"), Status: ptr("Closed lost")})
	wantRequired("create", err)
	if got, err := st.GetLead(ctx, lead.ID); err != nil || got.Status != "Negotiation" || got.Version != lead.Version {
		t.Errorf("after refusals: %q v%d (was v%d), %v", got.Status, got.Version, lead.Version, err)
	}

	// A reason from the list takes its spelling; the note is kept.
	l, err := st.MoveLeadOutcome(ctx, lead.ID, "Closed lost", 0, store.Outcome{LostReason: ptr("went with A COMPETITOR"), LostNote: ptr("Chose Initech.")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.LostReason != "Went with a competitor" || l.LostNote != "Chose Initech." || l.ClosedAt == nil {
		t.Errorf("lost: reason %q note %q closed %v", l.LostReason, l.LostNote, l.ClosedAt)
	}
	// Reopened: the reason stays as history; a reason for an open lead that
	// differs from it is refused.
	l, err = st.MoveLead(ctx, lead.ID, "Interest", 0)
	if err != nil || l.LostReason != "Went with a competitor" {
		t.Fatalf("reopen: reason %q, %v", l.LostReason, err)
	}
	var verr *store.ValidationError
	if _, err := st.UpdateLead(ctx, lead.ID, store.LeadInput{LostReason: ptr("Price")}); !errors.As(err, &verr) || verr.Fields["lost_reason"] == "" {
		t.Errorf("reason on an open lead: got %v, want a validation error", err)
	}
	if _, err := st.MoveLeadOutcome(ctx, lead.ID, "Negotiation", 0, store.Outcome{LostReason: ptr("Price")}, nil); !errors.As(err, &verr) || verr.Fields["lost_reason"] == "" {
		t.Errorf("reason on a move to an open stage: got %v, want a validation error", err)
	}
	// By update, with free text; the audit trail records it.
	l, err = st.UpdateLead(ctx, lead.ID, store.LeadInput{Status: ptr("Closed lost"), LostReason: ptr("Moved abroad")})
	if err != nil || l.LostReason != "Moved abroad" || l.LostNote != "" {
		t.Fatalf("update into lost: reason %q note %q, %v", l.LostReason, l.LostNote, err)
	}
	hist, err := st.LeadHistory(ctx, lead.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges := []store.FieldChange{
		{Field: "status", Old: "Interest", New: "Closed lost"},
		{Field: "lost_reason", Old: "Went with a competitor", New: "Moved abroad"},
		{Field: "lost_note", Old: "Chose Initech."},
	}
	if diff := cmp.Diff(wantChanges, hist[0].Changes); diff != "" || hist[0].Action != store.EventMove {
		t.Errorf("history %s (-want +got):\n%s", hist[0].Action, diff)
	}

	// Optional: a lost move without a reason is taken.
	if err := st.UpdatePipelineSettings(ctx, store.PipelineSettings{}); err != nil {
		t.Fatal(err)
	}
	other := mustCreate(t, st, "Carol", "Interest")
	if l, err := st.MoveLead(ctx, other.ID, "Closed lost", 0); err != nil || l.LostReason != "" || l.ClosedAt == nil {
		t.Errorf("optional: %+v, %v", l, err)
	}
}

func TestWonValueOnMove(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	lead := mustCreate(t, st, "Dana", "Negotiation")
	v := store.Money(42_000_00)
	l, err := st.MoveLeadOutcome(ctx, lead.ID, "Closed won", 0, store.Outcome{Value: &v}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Value != v || l.ClosedAt == nil {
		t.Errorf("won: value %v closed %v", l.Value, l.ClosedAt)
	}
	hist, err := st.LeadHistory(ctx, lead.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(hist[0].Changes[len(hist[0].Changes)-1], store.FieldChange{Field: "value", Old: "0.00", New: "42000.00"}) {
		t.Errorf("history: %+v", hist[0].Changes)
	}
}

func TestLostReasonList(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	r, err := st.AddLostReason(ctx, "  Lost to in-house tool ")
	if err != nil || r.Name != "Lost to in-house tool" || !r.Active {
		t.Fatalf("add: %+v, %v", r, err)
	}
	var verr *store.ValidationError
	if _, err := st.AddLostReason(ctx, "PRICE"); !errors.As(err, &verr) || verr.Fields["name"] == "" {
		t.Errorf("duplicate: got %v, want a validation error on name", err)
	}
	if _, err := st.AddLostReason(ctx, " "); !errors.As(err, &verr) {
		t.Errorf("blank: got %v, want a validation error", err)
	}
	if r, err = st.UpdateLostReason(ctx, r.ID, "In-house tool", false); err != nil || r.Name != "In-house tool" || r.Active {
		t.Fatalf("rename and retire: %+v, %v", r, err)
	}
	if _, err := st.UpdateLostReason(ctx, 9999, "X", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown id: got %v, want ErrNotFound", err)
	}
	all, err := st.ListLostReasons(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	active, err := st.ListLostReasons(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 7 || len(active) != 6 || all[6].Name != "In-house tool" {
		t.Errorf("lists: all %+v, active %d", all, len(active))
	}
}

func TestOwners(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	bob := mustUser(t, st, "bob@example.com", store.RoleMember)
	asAnn := store.WithActor(context.Background(), store.UserActor(ann))
	ctx := context.Background()

	l, err := st.CreateLead(asAnn, store.LeadInput{Name: ptr("Jane")})
	if err != nil {
		t.Fatal(err)
	}
	want := &store.LeadOwner{ID: ann.ID, Name: ann.Name, Email: ann.Email}
	if !cmp.Equal(l.Owner, want) {
		t.Errorf("default owner: got %+v, want %+v", l.Owner, want)
	}
	if sys := mustCreate(t, st, "System made", "Interest"); sys.Owner != nil {
		t.Errorf("system-created lead: owner %+v, want none", sys.Owner)
	}
	if l, err = st.UpdateLead(asAnn, l.ID, store.LeadInput{Owner: ptr("BOB@example.com")}); err != nil || l.Owner == nil || l.Owner.ID != bob.ID {
		t.Fatalf("owner by email: %+v, %v", l.Owner, err)
	}
	if l, err = st.UpdateLead(asAnn, l.ID, store.LeadInput{Owner: ptr(ann.ID.String())}); err != nil || l.Owner == nil || l.Owner.ID != ann.ID {
		t.Fatalf("owner by id: %+v, %v", l.Owner, err)
	}
	var verr *store.ValidationError
	if _, err := st.UpdateLead(asAnn, l.ID, store.LeadInput{Owner: ptr("nobody@example.com")}); !errors.As(err, &verr) || verr.Fields["owner"] == "" {
		t.Errorf("unknown owner: got %v, want a validation error on owner", err)
	}
	if l, err = st.UpdateLead(asAnn, l.ID, store.LeadInput{Owner: ptr("")}); err != nil || l.Owner != nil {
		t.Fatalf("no owner: %+v, %v", l.Owner, err)
	}

	// A deactivated user keeps their leads, cannot be given new ones; an
	// admin gives all of them to someone else at once.
	b1, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("B1"), Owner: ptr(bob.Email)})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := st.CreateLead(ctx, store.LeadInput{Name: ptr("B2"), Owner: ptr(bob.Email), Status: ptr("Closed won")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetUserActive(ctx, bob.ID, false); err != nil {
		t.Fatal(err)
	}
	if got, err := st.GetLead(ctx, b1.ID); err != nil || got.Owner == nil || got.Owner.ID != bob.ID {
		t.Errorf("deactivated owner kept: %+v, %v", got.Owner, err)
	}
	if _, err := st.UpdateLead(asAnn, l.ID, store.LeadInput{Owner: ptr(bob.Email)}); !errors.As(err, &verr) || verr.Fields["owner"] == "" {
		t.Errorf("deactivated owner given: got %v, want a validation error on owner", err)
	}
	if _, err := st.UpdateLead(asAnn, b1.ID, store.LeadInput{Owner: ptr(bob.Email), Notes: ptr("kept")}); err != nil {
		t.Errorf("keeping a deactivated owner: %v", err)
	}
	if _, err := st.ReassignLeads(asAnn, bob.ID, bob.ID); err == nil {
		t.Error("reassign to the same user: no error")
	}
	if _, err := st.ReassignLeads(asAnn, ann.ID, bob.ID); !errors.As(err, &verr) {
		t.Errorf("reassign to a deactivated user: got %v, want a validation error", err)
	}
	n, err := st.ReassignLeads(asAnn, bob.ID, ann.ID)
	if err != nil || n != 2 {
		t.Fatalf("reassign: %d, %v; want 2", n, err)
	}
	for _, id := range []store.Lead{b1, b2} {
		got, err := st.GetLead(ctx, id.ID)
		if err != nil || got.Owner == nil || got.Owner.ID != ann.ID {
			t.Errorf("%s after reassign: %+v, %v", id.Name, got.Owner, err)
		}
		hist, err := st.LeadHistory(ctx, id.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		wantChange := []store.FieldChange{{Field: "owner", Old: bob.Email, New: ann.Email}}
		if diff := cmp.Diff(wantChange, hist[0].Changes); diff != "" || hist[0].ActorName != ann.Name {
			t.Errorf("%s history by %s (-want +got):\n%s", id.Name, hist[0].ActorName, diff)
		}
	}
}

func TestEventsCarryOutcomeAndOwner(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	asAnn := store.WithActor(context.Background(), store.UserActor(ann))
	start := lastEventID(t, st)
	l, err := st.CreateLead(asAnn, store.LeadInput{Name: ptr("Jane")})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := st.MoveLeadOutcome(asAnn, l.ID, "Closed lost", 0, store.Outcome{LostReason: ptr("price")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := sequenceAndRead(t, st, start)
	if len(evs) != 2 {
		t.Fatalf("events: %d, want 2", len(evs))
	}
	got := evs[1].Lead
	if diff := cmp.Diff(moved, got); diff != "" {
		t.Errorf("event lead vs the moved lead (-want +got):\n%s", diff)
	}
	if got.Owner == nil || got.Owner.Email != ann.Email || got.ClosedAt == nil || got.LostReason != "Price" {
		t.Errorf("event lead: owner %+v closed %v reason %q", got.Owner, got.ClosedAt, got.LostReason)
	}
}
