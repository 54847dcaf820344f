package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/crmteam/crm/store"
	"github.com/crmteam/crm/store/storetest"
)

// TestStageEditsUnderConcurrentMoves edits the pipeline (add, rename, reorder,
// delete with move_to) while many movers move leads between its stages. No
// error other than "that stage is gone" (a move to a stage deleted or renamed
// meanwhile, which a person would be told) may reach a caller: no deadlock, no
// conflict. Afterwards no lead is lost, every lead is in a stage, and every
// column's sort keys and positions agree (columns).
func TestStageEditsUnderConcurrentMoves(t *testing.T) {
	t.Parallel()
	st, pool := storetest.NewStore(t)
	ctx := context.Background()
	stages, err := st.Stages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const perStage = 25
	for _, s := range stages {
		for i := range perStage {
			mustCreate(t, st, fmt.Sprintf("%s %d", s.Name, i), s.Name)
		}
	}
	board, err := st.ListBoard(ctx, store.BoardQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range board.Columns {
		for _, l := range c.Leads {
			ids = append(ids, l.ID.String())
		}
	}
	leads := len(ids)

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	done := make(chan struct{})
	// Movers: to a stage as the board last showed it, at a random place.
	for g := range 12 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := 0; ; i++ {
				select {
				case <-done:
					if i >= 50 {
						return
					}
				default:
				}
				shown, err := st.Stages(ctx)
				if err != nil {
					errs <- err
					return
				}
				target := shown[rng.IntN(len(shown))].Name
				l := board.Columns[0].Leads[0]
				for _, c := range board.Columns {
					if len(c.Leads) > 0 && rng.IntN(2) == 0 {
						l = c.Leads[rng.IntN(len(c.Leads))]
					}
				}
				var ve *store.ValidationError
				_, err = st.MoveLead(ctx, l.ID, target, rng.IntN(30))
				if err != nil && !(errors.As(err, &ve) && ve.Fields["status"] != "") {
					errs <- fmt.Errorf("move %s to %s: %w", l.Name, target, err)
					return
				}
			}
		})
	}
	// The admin: each round adds a stage, renames it and another, moves both,
	// then deletes the new one, its leads going to the renamed one.
	wg.Go(func() {
		defer close(done)
		for round := range 8 {
			add, err := st.CreateStage(ctx, store.StageInput{Name: ptr(fmt.Sprintf("Temp %d", round))})
			if err != nil {
				errs <- fmt.Errorf("create: %w", err)
				return
			}
			if _, err := st.UpdateStage(ctx, add.ID, store.StageInput{Name: ptr(fmt.Sprintf("Temporary %d", round)), Position: ptr(0)}); err != nil {
				errs <- fmt.Errorf("rename and move the new stage: %w", err)
				return
			}
			if _, err := st.UpdateStage(ctx, stages[1].ID, store.StageInput{Name: ptr(fmt.Sprintf("Meeting %d", round))}); err != nil {
				errs <- fmt.Errorf("rename: %w", err)
				return
			}
			now, err := st.Stages(ctx)
			if err != nil {
				errs <- err
				return
			}
			order := make([]int, len(now))
			for i, s := range now {
				order[len(now)-1-i] = s.ID
			}
			if _, err := st.ReorderStages(ctx, order); err != nil {
				errs <- fmt.Errorf("reorder: %w", err)
				return
			}
			if _, _, err := st.DeleteStage(ctx, add.ID, stages[1].ID); err != nil {
				errs <- fmt.Errorf("delete: %w", err)
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	cols := columns(t, pool) // fails unless keys are unique and the board follows them
	total := 0
	for _, c := range cols {
		total += len(c)
	}
	if total != leads {
		t.Errorf("got %d leads on the board, want %d", total, leads)
	}
	final, err := st.Stages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for status := range cols {
		if !slices.ContainsFunc(final, func(s store.Stage) bool { return s.Name == status }) {
			t.Errorf("leads in %q, which is no stage", status)
		}
	}
	for i, s := range final {
		if s.Position != i {
			t.Errorf("stage %s at position %d, want %d", s.Name, s.Position, i)
		}
	}
	if len(final) != len(stages) {
		t.Errorf("got %d stages, want %d", len(final), len(stages))
	}
}
