package assistant_test

import (
	"testing"
	"time"
)

// TestAddedInPeriod asks which leads were added in a period, on the clock of
// the database that stamped them.
func TestAddedInPeriod(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.now = time.Now()
	rep := h.say("who was added today?")
	contains(t, "today", rep.Content, "13 leads added today", "Jane Smith")
	h.now = time.Now().AddDate(0, 0, 2)
	rep = h.say("any new leads yesterday?")
	contains(t, "the day after tomorrow", rep.Content, "No lead was added yesterday")
}
