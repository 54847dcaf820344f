package handlers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/views"
)

// A browser test of the admins' pipeline settings page (issue 12): add a
// stage, rename it and set its kind, win probability and rotting days,
// reorder by keyboard (Move up) and by dragging its handle, delete it with
// its leads going elsewhere; each step checked in the database.

// stageNamed returns the stage called name, failing the test without one.
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
	t.Fatalf("no stage %q among %v", name, stages)
	return store.Stage{}
}

func stageOrder(t *testing.T, st *store.Store) []string {
	t.Helper()
	stages, err := st.Stages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = s.Name
	}
	return out
}

// notice waits until the page says text in its notice.
// The forms are plain posts: the page is replaced, and a wait that began on
// the old page is tried again on the new one.
func (tb *tab) notice(text string) {
	tb.t.Helper()
	cond := fmt.Sprintf(`document.readyState === 'complete' && !!document.querySelector('.notice') && document.querySelector('.notice').innerText.includes(%s)`, js(text))
	for range 5 {
		if _, err := chromedp.Run(tb.ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second))); err == nil {
			return
		}
	}
	tb.waitFor("the page says "+text, cond)
}

// setValue replaces the value of the input or select sel.
func (tb *tab) setValue(sel, value string) {
	tb.t.Helper()
	tb.do("set "+sel, chromedp.SetValue(chromedp.CSS(sel), value))
}

func TestBrowserPipelineSettings(t *testing.T) {
	browser := startBrowser(t)
	tb := newTab(t, browser)
	ctx := context.Background()
	tb.signInAs("root@example.com", store.RoleAdmin)
	tb.do("viewport", chromedp.EmulateViewport(1280, 800))
	tb.visit(views.PipelinePath)

	// Add.
	tb.do("type the new stage",
		chromedp.SendKeys(chromedp.CSS("#new-stage-name"), "Qualified"),
	)
	tb.setValue("#new-stage-probability", "20")
	tb.do("rot days", chromedp.SendKeys(chromedp.CSS("#new-stage-rot-days"), "10"))
	tb.click("add", ".stage-add button[type=submit]")
	tb.notice("Added the stage Qualified.")
	q := stageNamed(t, tb.st, "Qualified")
	if q.Kind != store.StageOpen || q.Probability != 20 || q.RotDays == nil || *q.RotDays != 10 {
		t.Errorf("added stage: got %+v, want open, 20 %%, 10 days", q)
	}
	// A new open stage goes after the open ones, before the closed.
	if got, want := stageOrder(t, tb.st), []string{"Interest", "Meeting booked", "Proposal sent", "Negotiation", "Qualified", "Closed won", "Closed lost"}; !slices.Equal(got, want) {
		t.Errorf("added stage: got order %v, want %v", got, want)
	}

	// Rename, kind, probability, rotting days: one Save.
	id := strconv.Itoa(q.ID)
	tb.do("clear the name", chromedp.Clear(chromedp.CSS("#stage-"+id+"-name")))
	tb.do("rename", chromedp.SendKeys(chromedp.CSS("#stage-"+id+"-name"), "On hold"))
	tb.setValue("#stage-"+id+"-kind", store.StageLost)
	tb.setValue("#stage-"+id+"-probability", "5")
	tb.setValue("#stage-"+id+"-rot_days", "30")
	tb.pressEnter("save", "#stage-"+id+" .stage-form button[type=submit]")
	tb.notice("Saved the stage On hold.")
	q = stageNamed(t, tb.st, "On hold")
	if q.ID != mustAtoi(id) || q.Kind != store.StageLost || q.Probability != 5 || q.RotDays == nil || *q.RotDays != 30 {
		t.Errorf("saved stage: got %+v, want the same id, lost, 5 %%, 30 days", q)
	}

	// Reorder by keyboard: Move up, twice.
	for _, want := range []string{"On hold is now stage 4.", "On hold is now stage 3."} {
		tb.pressEnter("move up", "#stage-"+id+` [data-move-stage="up"]`)
		tb.notice(want)
	}
	want := []string{"Interest", "Meeting booked", "On hold", "Proposal sent", "Negotiation", "Closed won", "Closed lost"}
	if got := stageOrder(t, tb.st); !slices.Equal(got, want) {
		t.Errorf("after Move up twice: got %v, want %v", got, want)
	}
	tb.screenshot("pipeline-settings-1280.png")

	// Drag by the handle to the top (SortableJS; the page posts the order).
	x0, y0 := tb.point("#stage-"+id+" .stage-handle", 0.5)
	x1, y1 := tb.point("#stage-list > .stage-item:first-child .stage-handle", 0.1)
	tb.drag(x0, y0, x1, y1-8)
	tb.notice("Saved the order of the stages.")
	if got := stageOrder(t, tb.st); got[0] != "On hold" {
		t.Errorf("after the drag: got %v, want On hold first", got)
	}

	// Delete, asking where its leads go.
	lead, err := tb.st.CreateLead(ctx, store.LeadInput{Name: ptrTo("Held Lead"), Status: ptrTo("On hold"), LostReason: ptrTo("Price")})
	if err != nil {
		t.Fatal(err)
	}
	tb.click("open delete", "#stage-"+id+" .stage-delete summary")
	tb.waitFor("the choice shows", fmt.Sprintf(`document.querySelector(%s).open`, js("#stage-"+id+" .stage-delete")))
	tb.setValue("#stage-"+id+"-move_to", strconv.Itoa(stageNamed(t, tb.st, "Closed lost").ID))
	tb.click("delete", "#stage-"+id+" .stage-delete button[type=submit]")
	tb.notice("Deleted the stage On hold; 1 lead moved.")
	if got, err := tb.st.GetLead(ctx, lead.ID); err != nil || got.Status != "Closed lost" || got.LostReason != "Price" {
		t.Errorf("the stage's lead: got %q %q (%v), want in Closed lost, its reason kept", got.Status, got.LostReason, err)
	}
	if got := stageOrder(t, tb.st); slices.Contains(got, "On hold") {
		t.Errorf("after delete: got %v, want no On hold", got)
	}

	for _, size := range []struct {
		name string
		w, h int64
	}{{"390", 390, 844}, {"1280", 1280, 800}} {
		tb.do("viewport", chromedp.EmulateViewport(size.w, size.h))
		tb.visit(views.PipelinePath)
		tb.screenshot("pipeline-settings-" + size.name + ".png")
		if o := tb.overflow(); o != "" {
			t.Errorf("at %s: %s", size.name, o)
		}
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
