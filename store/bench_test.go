package store_test

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// BenchmarkListBoard reads a 1,000-lead board and encodes it as JSON: the bare
// work behind GET /leads/.
func BenchmarkListBoard(b *testing.B) {
	st, pool := storetest.NewStore(b)
	seedThousand(b, pool)
	ctx := context.Background()
	b.Run("query", func(b *testing.B) {
		for range b.N {
			if _, err := st.ListBoard(ctx, store.BoardQuery{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	board, err := st.ListBoard(ctx, store.BoardQuery{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		for range b.N {
			for _, c := range board.Columns {
				if err := json.NewEncoder(io.Discard).Encode(c.Leads); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkMoveLead moves random leads of a 1,000-lead board to random places,
// one at a time: the database work behind one PUT /leads/{id}/status/.
func BenchmarkMoveLead(b *testing.B) {
	st, pool := storetest.NewStore(b)
	seedThousand(b, pool)
	ctx := context.Background()
	board, err := st.ListBoard(ctx, store.BoardQuery{})
	if err != nil {
		b.Fatal(err)
	}
	var ids []uuid.UUID
	for _, c := range board.Columns {
		for _, l := range c.Leads {
			ids = append(ids, l.ID)
		}
	}
	stages := []string{"Interest", "Meeting booked", "Proposal sent", "Negotiation", "Closed won", "Closed lost"}
	b.ResetTimer()
	for i := range b.N {
		if _, err := st.MoveLead(ctx, ids[(i*7919)%len(ids)], stages[(i*31)%6], (i*37)%167); err != nil {
			b.Fatal(err)
		}
	}
}

// seedThousand fills the board with 1,000 leads spread evenly over the stages.
func seedThousand(b *testing.B, pool *pgxpool.Pool) {
	b.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		INSERT INTO leads (name, company, email, phone, value, notes, status, source, card_order)
		SELECT 'Lead ' || i, 'Company ' || (i % 97), 'lead' || i || '@example.com', '+1-555-0100',
		       (i % 500) * 100 + 0.5, 'Some notes about lead ' || i, s.name, 'Website', (i / 6)
		FROM generate_series(0, 999) AS i JOIN stages s ON s.position = i % 6`); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE leads"); err != nil {
		b.Fatal(err)
	}
}
