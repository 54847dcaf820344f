package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// stageNamed returns the stage called name.
func stageNamed(t *testing.T, st *store.Store, name string) store.Stage {
	t.Helper()
	stages, err := st.Stages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stages {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stage %q in %v", name, stages)
	return store.Stage{}
}

// TestStageKindChangeKeepsOutcomes: a stage turned won closes its leads, turned
// open reopens them; turning it lost, or deleting it into a lost stage, while
// a reason is required and its leads have none is refused naming lost_reason,
// and nothing changes.
func TestStageKindChangeKeepsOutcomes(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	pilot, err := st.CreateStage(ctx, store.StageInput{Name: ptr("Pilot")})
	if err != nil {
		t.Fatal(err)
	}
	lead := mustCreate(t, st, "Jane Doe", "Pilot")
	if _, err := st.UpdateStage(ctx, pilot.ID, store.StageInput{Kind: ptr("won")}); err != nil {
		t.Fatal(err)
	}
	if _, closed := stageClock(t, pool, lead); closed == nil {
		t.Error("a lead of a stage turned won has no closed_at")
	}
	if _, err := st.UpdateStage(ctx, pilot.ID, store.StageInput{Kind: ptr("open")}); err != nil {
		t.Fatal(err)
	}
	if _, closed := stageClock(t, pool, lead); closed != nil {
		t.Errorf("a lead of a stage turned open keeps closed_at %v", closed)
	}

	if err := st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	var verr *store.ValidationError
	_, err = st.UpdateStage(ctx, pilot.ID, store.StageInput{Kind: ptr("lost")})
	if !errors.As(err, &verr) || verr.Fields["lost_reason"] == "" {
		t.Fatalf("turning a stage with a reasonless lead lost: %v, want a ValidationError on lost_reason", err)
	}
	if got := stageNamed(t, st, "Pilot"); got.Kind != "open" {
		t.Errorf("after the refusal Pilot is %s, want open", got.Kind)
	}
	lost := stageNamed(t, st, "Closed lost")
	_, _, err = st.DeleteStage(ctx, pilot.ID, lost.ID)
	if !errors.As(err, &verr) || verr.Fields["lost_reason"] == "" {
		t.Fatalf("deleting a stage into a lost one: %v, want a ValidationError on lost_reason", err)
	}
	if got, err := st.GetLead(ctx, lead.ID); err != nil || got.Status != "Pilot" {
		t.Errorf("after the refusal the lead is %+v (%v), want it still in Pilot", got.Status, err)
	}
	// Without the requirement both work.
	if err := st.UpdatePipelineSettings(ctx, store.PipelineSettings{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.DeleteStage(ctx, pilot.ID, lost.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetLead(ctx, lead.ID); got.Status != "Closed lost" || got.ClosedAt == nil {
		t.Errorf("moved by the delete: %s, closed_at %v; want Closed lost and closed", got.Status, got.ClosedAt)
	}
}

// TestStageNamesLookAlikes: a name that only looks like another (a no-break
// space, full-width letters, doubled spaces) is that name; invisible
// characters are refused.
func TestStageNamesLookAlikes(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	for _, name := range []string{"Closed\u00a0won", "Closed  won", "Ｃｌｏｓｅｄ won"} {
		_, err := st.CreateStage(ctx, store.StageInput{Name: ptr(name)})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateStage(%q): %v, want a conflict with Closed won", name, err)
		}
	}
	for _, name := range []string{"Interest\u200b", "Line\u0000x", "Pay\u202eed"} {
		_, err := st.CreateStage(ctx, store.StageInput{Name: ptr(name)})
		var verr *store.ValidationError
		if !errors.As(err, &verr) || verr.Fields["name"] == "" {
			t.Errorf("CreateStage(%q): %v, want a ValidationError on name", name, err)
		}
	}
	got, err := st.CreateStage(ctx, store.StageInput{Name: ptr("  Pilot\tphase ")})
	if err != nil || got.Name != "Pilot phase" {
		t.Errorf("CreateStage with a tab: %q, %v; want \"Pilot phase\"", got.Name, err)
	}
}

// TestBulkUndoIntoLostNeedsReason: undoing a bulk move that would put a lead
// back into a lost stage without a reason, while one is required, is refused
// as any such move is (naming lost_reason), not a failure of the server.
func TestBulkUndoIntoLostNeedsReason(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	lead := mustCreate(t, st, "Jane Doe", "Closed lost")
	res, err := st.BulkAction(ctx, store.BulkInput{IDs: []uuid.UUID{lead.ID}, Action: "move", Status: "Interest"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpdatePipelineSettings(ctx, store.PipelineSettings{LostReasonRequired: true}); err != nil {
		t.Fatal(err)
	}
	_, err = st.UndoBulkAction(ctx, res.ID)
	var verr *store.ValidationError
	if !errors.As(err, &verr) || verr.Fields["lost_reason"] == "" {
		t.Fatalf("undo: %v, want a ValidationError on lost_reason", err)
	}
	if got, _ := st.GetLead(ctx, lead.ID); got.Status != "Interest" {
		t.Errorf("after the refused undo the lead is in %s, want Interest", got.Status)
	}
}
