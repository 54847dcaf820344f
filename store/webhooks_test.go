package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestPurgeWebhookDeliveries: finished deliveries older than the cutoff go
// with their log; pending ones and newer ones stay.
func TestPurgeWebhookDeliveries(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	if _, _, err := st.CreateWebhook(ctx, store.WebhookInput{URL: "https://example.com/hook", Events: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Old Delivered", "Old Failed", "Old Pending", "New Delivered"} {
		if _, err := st.CreateLead(ctx, store.LeadInput{Name: &name}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SequenceEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := st.QueueWebhookDeliveries(ctx, 100); err != nil || n != 4 {
		t.Fatalf("queue: got %d, %v; want 4 events", n, err)
	}
	_, err := pool.Exec(ctx, `UPDATE webhook_deliveries SET
		state = (ARRAY['delivered', 'failed', 'pending', 'delivered'])[event_seq],
		updated_at = CASE WHEN event_seq < 4 THEN now() - interval '40 days' ELSE now() END`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, duration_ms, error) SELECT id, 1, 'x' FROM webhook_deliveries`); err != nil {
		t.Fatal(err)
	}
	n, err := st.PurgeWebhookDeliveries(ctx, time.Now().Add(-store.WebhookLogRetention))
	if err != nil || n != 2 {
		t.Fatalf("purge: got %d, %v; want 2", n, err)
	}
	var left []int64
	rows, _ := pool.Query(ctx, `SELECT event_seq FROM webhook_deliveries ORDER BY event_seq`)
	for rows.Next() {
		var s int64
		_ = rows.Scan(&s)
		left = append(left, s)
	}
	if len(left) != 2 || left[0] != 3 || left[1] != 4 {
		t.Errorf("left: got events %v, want 3 (pending) and 4 (new)", left)
	}
	var attempts int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM webhook_attempts`).Scan(&attempts)
	if attempts != 2 {
		t.Errorf("attempts left: got %d, want 2", attempts)
	}
}
