package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

func TestDeleteMovesToTrashAndRestore(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	ctx := store.WithActor(context.Background(), store.UserActor(ann))
	a, b, c := mustCreate(t, st, "A", "Interest"), mustCreate(t, st, "B", "Interest"), mustCreate(t, st, "C", "Interest")
	value := store.Money(1234_50)
	if _, err := st.UpdateLead(ctx, b.ID, store.LeadInput{Company: ptr("Beta Ltd"), Value: &value, Notes: ptr("keep me")}); err != nil {
		t.Fatal(err)
	}

	deleted, err := st.DeleteLead(ctx, b.ID)
	if err != nil || deleted.ID != b.ID {
		t.Fatalf("DeleteLead got %v, %v; want B", deleted.ID, err)
	}
	if got := columnNames(t, st, "Interest"); !cmp.Equal(got, []string{"A", "C"}) {
		t.Errorf("Interest after deleting B: got %v, want [A C]", got)
	}
	wantOrders(t, st, "Interest")
	if _, err := st.GetLead(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetLead of a trashed lead: got %v, want ErrNotFound", err)
	}
	if n, _ := st.CountLeads(ctx); n != 2 {
		t.Errorf("CountLeads with one in the trash: got %d, want 2", n)
	}
	trash, err := st.ListTrash(ctx, 10)
	if err != nil || len(trash) != 1 {
		t.Fatalf("ListTrash got %d leads, %v; want 1", len(trash), err)
	}
	tl := trash[0]
	if tl.ID != b.ID || tl.Company != "Beta Ltd" || tl.Value != value || tl.Notes != "keep me" || tl.Status != "Interest" || tl.DeletedBy != "ann" {
		t.Errorf("trashed lead got %+v, want B with its fields, deleted by ann", tl)
	}
	if d := tl.PurgeAt().Sub(tl.DeletedAt); d != store.TrashRetention {
		t.Errorf("purge after got %v, want %v", d, store.TrashRetention)
	}

	// Another lead joins the column meanwhile; B comes back at the end.
	d := mustCreate(t, st, "D", "Interest")
	restored, err := st.RestoreLead(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if restored.ID != b.ID || restored.CardOrder != 3 || restored.Company != "Beta Ltd" || !restored.CreatedAt.Equal(b.CreatedAt) {
		t.Errorf("restored got %+v, want B with its fields and creation time at card_order 3", restored)
	}
	if got := columnNames(t, st, "Interest"); !cmp.Equal(got, []string{"A", "C", "D", "B"}) {
		t.Errorf("Interest after the restore: got %v, want [A C D B]", got)
	}
	wantOrders(t, st, "Interest")
	if _, err := st.RestoreLead(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second restore: got %v, want ErrNotFound", err)
	}
	if _, err := st.RestoreLead(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("restore of a lead not in the trash: got %v, want ErrNotFound", err)
	}
	if trash, _ := st.ListTrash(ctx, 10); len(trash) != 0 {
		t.Errorf("trash after the restore: got %d leads, want 0", len(trash))
	}
	_, _ = c, d
}

// TestConcurrentRestores restores one lead from 8 goroutines: one succeeds, the
// others find it gone, and the column stays 0..n-1.
func TestConcurrentRestores(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	for _, n := range []string{"A", "B", "C"} {
		mustCreate(t, st, n, "Negotiation")
	}
	x := mustCreate(t, st, "X", "Negotiation")
	if _, err := st.DeleteLead(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			if i%2 == 0 {
				mustCreate(t, st, "new", "Negotiation")
			}
			_, errs[i] = st.RestoreLead(ctx, x.ID)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("concurrent restore: got %v, want nil or ErrNotFound", err)
		}
	}
	if ok != 1 {
		t.Errorf("restores that succeeded: got %d, want 1", ok)
	}
	wantOrders(t, st, "Negotiation")
}

func TestPurgeTrash(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	old, recent := mustCreate(t, st, "Old", "Interest"), mustCreate(t, st, "Recent", "Interest")
	for _, l := range []store.Lead{old, recent} {
		if _, err := st.DeleteLead(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Within the retention period nothing goes.
	if ids, err := st.PurgeTrash(ctx, time.Now().Add(-store.TrashRetention)); err != nil || len(ids) != 0 {
		t.Errorf("purge within retention: got %v, %v; want nothing purged", ids, err)
	}
	// Past it (as seen 30 days and a minute from now) both go, with their history.
	ids, err := st.PurgeTrash(ctx, time.Now().Add(time.Minute))
	if err != nil || len(ids) != 2 {
		t.Fatalf("purge past retention: got %v, %v; want both leads", ids, err)
	}
	if trash, _ := st.ListTrash(ctx, 10); len(trash) != 0 {
		t.Errorf("trash after the purge: got %d, want 0", len(trash))
	}
	if h, _ := st.LeadHistory(ctx, old.ID, 10); len(h) != 0 {
		t.Errorf("history of a purged lead: got %d events, want 0", len(h))
	}
	if _, err := st.RestoreLead(ctx, old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("restore of a purged lead: got %v, want ErrNotFound", err)
	}
}

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ann := mustUser(t, st, "ann@example.com", store.RoleAdmin)
	bob := mustUser(t, st, "bob@example.com", store.RoleMember)
	asAnn := store.WithActor(context.Background(), store.UserActor(ann))
	asToken := store.WithActor(context.Background(), store.TokenActor(bob, "sync"))
	asAssistant := store.WithActor(context.Background(), store.AssistantActor(bob))

	v := store.Money(50_000_00)
	l, err := st.CreateLead(asAnn, store.LeadInput{Name: ptr("Jane"), Company: ptr("Acme"), Value: &v})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, st, "Other", "Interest")
	if _, err := st.UpdateLead(asToken, l.ID, store.LeadInput{Company: ptr("Acme Inc"), Email: ptr("jane@acme.test"), Name: ptr("Jane")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdateLead(asToken, l.ID, store.LeadInput{Name: ptr("Jane")}); err != nil { // changes nothing
		t.Fatal(err)
	}
	if _, err := st.MoveLead(asAnn, l.ID, "Interest", 1); err != nil { // within the column
		t.Fatal(err)
	}
	if _, err := st.MoveLead(asAssistant, l.ID, "Proposal sent", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DeleteLead(asAssistant, l.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RestoreLead(asAnn, l.ID); err != nil {
		t.Fatal(err)
	}

	h, err := st.LeadHistory(context.Background(), l.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		Action, Kind, Actor string
		Changes             []store.FieldChange
	}
	var got []ev
	for i := len(h) - 1; i >= 0; i-- { // oldest first, to read as it happened
		got = append(got, ev{h[i].Action, h[i].ActorKind, h[i].ActorName, h[i].Changes})
	}
	want := []ev{
		{"create", "user", "ann", []store.FieldChange{{Field: "name", New: "Jane"}, {Field: "company", New: "Acme"},
			{Field: "value", New: "50000.00"}, {Field: "status", New: "Interest"}, {Field: "owner", New: "ann@example.com"}}},
		{"update", "token", "API token “sync” of bob", []store.FieldChange{{Field: "company", Old: "Acme", New: "Acme Inc"},
			{Field: "email", Old: "", New: "jane@acme.test"}}},
		{"move", "user", "ann", []store.FieldChange{{Field: "position", Old: "1", New: "2"}}},
		{"move", "assistant", "assistant on behalf of bob", []store.FieldChange{{Field: "status", Old: "Interest", New: "Proposal sent"},
			{Field: "position", Old: "2", New: "1"}}},
		{"delete", "assistant", "assistant on behalf of bob", []store.FieldChange{}},
		{"restore", "user", "ann", []store.FieldChange{{Field: "status", New: "Proposal sent"}, {Field: "position", New: "1"}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	for i := 1; i < len(h); i++ {
		if h[i].At.After(h[i-1].At) || h[i].ID > h[i-1].ID {
			t.Errorf("history order: event %d (%v) after event %d (%v), want newest first", h[i].ID, h[i].At, h[i-1].ID, h[i-1].At)
		}
	}

	// Without an actor in the context the system is named.
	sys := mustCreate(t, st, "Seeded", "Interest")
	if h, _ := st.LeadHistory(context.Background(), sys.ID, 10); len(h) != 1 || h[0].ActorKind != "system" || h[0].ActorName != "system" {
		t.Errorf("history of a lead created without an actor: got %+v, want one create by the system", h)
	}
}

func columnNames(t *testing.T, st *store.Store, stage string) []string {
	t.Helper()
	b, err := st.ListBoard(context.Background(), store.BoardQuery{Status: stage})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, l := range b.Columns[0].Leads {
		names = append(names, l.Name)
	}
	return names
}

// wantOrders checks that a column's card_order is exactly 0..n-1.
func wantOrders(t *testing.T, st *store.Store, stage string) {
	t.Helper()
	b, err := st.ListBoard(context.Background(), store.BoardQuery{Status: stage})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range b.Columns[0].Leads {
		if l.CardOrder != i {
			t.Errorf("%s card %d (%s): got card_order %d, want %d", stage, i, l.Name, l.CardOrder, i)
		}
	}
}
