package handlers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// A hub whose streams all take a reset for a burst (?burst=reset,
// ?only=import) does not read a burst's events; one stream that is sent
// every event makes it read them all, and small changes are read either way.
func TestEventHubSkipsBurstsNobodyReads(t *testing.T) {
	t.Parallel()
	st, _ := storetest.NewStore(t)
	ctx := context.Background()
	h := NewEventHub(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	start, err := st.SequenceEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.floor, h.last = start, start // as Start does; read is called by hand
	user := uuid.New()
	board, err := h.subscribe(user, false)
	if err != nil {
		t.Fatal(err)
	}
	burst := func(name string, n int) {
		t.Helper()
		var b strings.Builder
		b.WriteString("Name\n")
		for i := range n {
			fmt.Fprintf(&b, "%s %d\n", name, i)
		}
		imp, err := st.CreateImport(ctx, store.ImportUpload{FileName: name + ".csv", Body: strings.NewReader(b.String())})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.RunImport(ctx, imp.ID); err != nil {
			t.Fatal(err)
		}
	}
	// read has the hub read, and checks it is at the newest event with ring
	// events in memory.
	read := func(what string, ring int) {
		t.Helper()
		if err := h.read(ctx); err != nil {
			t.Fatal(err)
		}
		newest, _ := st.SequenceEvents(ctx)
		if h.Last() != newest || len(h.ring) != ring {
			t.Errorf("%s: hub at %d with %d events in memory, want at %d with %d", what, h.Last(), len(h.ring), newest, ring)
		}
	}
	burst("skipped", BurstEvents+1)
	read("a burst with only a burst=reset stream", 0)
	if _, err := st.CreateLead(ctx, store.LeadInput{Name: ptrTo("Small")}); err != nil {
		t.Fatal(err)
	}
	read("one change with only a burst=reset stream", 1)
	api, err := h.subscribe(user, true)
	if err != nil {
		t.Fatal(err)
	}
	burst("read", BurstEvents+1)
	read("a burst with a stream sent every event", 1+BurstEvents+1)
	h.unsubscribe(api)
	h.unsubscribe(board)
	if h.every != 0 || len(h.subs) != 0 {
		t.Errorf("after unsubscribing: %d streams, %d sent every event; want none", len(h.subs), h.every)
	}
}
