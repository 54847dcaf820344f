package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/crmteam/crm/queries"
)

// The pipeline's stages, edited by admins (issue "A pipeline the team owns").
//
// How leads refer to stages: by name, as they always have (leads.status and
// trashed_leads.status REFERENCES stages(name) ON UPDATE CASCADE). A rename
// is one UPDATE of the stage row, which PostgreSQL carries to every lead of the
// stage; README.md ("Stages") says why this was kept over a stage id and what
// a rename costs.
//
// Concurrency: every stage edit first locks every stage row, in id order
// (LockAllStages), as every lead writer locks the rows of the columns it
// touches in id order (LockStages, move_lead): an edit waits for the writes in
// flight in any column and holds new ones back until it commits, and nobody
// deadlocks. Positions are unique at commit (a deferred constraint), so a
// reorder writes them in any order. A lead writer that read a stage name just
// before a rename finds its lock gone and runs again (errStale, move_lead's
// 40001), reading the new name.

// Kinds of stage: a lead in an open stage is still being worked on; won and
// lost are outcomes.
const (
	StageOpen = "open"
	StageWon  = "won"
	StageLost = "lost"
)

// StageKinds lists the kinds, in the order they are offered.
var StageKinds = []string{StageOpen, StageWon, StageLost}

// Limits of a stage.
const (
	// MaxStages is the most stages a pipeline may have (ListStages reads 100).
	MaxStages = 50
	// MaxRotDays is the longest rotting threshold (the stages table's check).
	MaxRotDays = 3650
)

// Stage is a column of the pipeline.
type Stage struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Position int    `json:"position"`
	// Kind is StageOpen, StageWon or StageLost.
	Kind string `json:"kind"`
	// Probability is the chance, in percent, that a lead in the stage is won
	// (the forecast weighs open value with it).
	Probability int `json:"probability"`
	// RotDays is how many days a lead may sit in the stage before its card is
	// marked as going stale; nil: never.
	RotDays *int `json:"rot_days"`
}

// IsClosed says whether a lead in the stage has an outcome (won or lost).
func (st Stage) IsClosed() bool { return st.Kind == StageWon || st.Kind == StageLost }

func stageFromRow(r queries.Stage) Stage {
	st := Stage{ID: int(r.ID), Name: r.Name, Position: int(r.Position), Kind: r.Kind, Probability: int(r.Probability)}
	if r.RotDays != nil {
		d := int(*r.RotDays)
		st.RotDays = &d
	}
	return st
}

func stagesFromRows(rows []queries.Stage) []Stage {
	out := make([]Stage, len(rows))
	for i, r := range rows {
		out[i] = stageFromRow(r)
	}
	return out
}

// StageInput is a new stage or a change to one: a nil field is left as it is
// (or takes its default on create). RotDays is set (to a number or to nil,
// never) only when SetRotDays.
type StageInput struct {
	Name        *string
	Kind        *string
	Probability *int
	RotDays     *int
	SetRotDays  bool
	// Position moves the stage there (0 is the first column; past the end: the
	// end), the stages between shifting by one.
	Position *int
}

// Normalize trims the name.
func (in *StageInput) Normalize() {
	if in.Name != nil {
		// NFKC folds look-alikes (a no-break space, full-width letters) into
		// the characters they look like, and runs of white space become one
		// space, so "Closed\u00a0won" is Closed won, a duplicate.
		n := strings.Join(strings.Fields(norm.NFKC.String(*in.Name)), " ")
		in.Name = &n
	}
}

// invisibleRune reports a character a stage name may not have: a control
// or format character (a zero-width space, a direction mark), which would
// make two names that look the same differ.
func invisibleRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// Validate checks each field given; create also requires a name.
func (in StageInput) Validate(create bool) *ValidationError {
	errs := map[string]string{}
	switch {
	case in.Name == nil && create:
		errs["name"] = "is required"
	case in.Name != nil && *in.Name == "":
		errs["name"] = "must not be empty"
	case in.Name != nil && strings.ContainsFunc(*in.Name, invisibleRune):
		errs["name"] = "must not contain control or invisible characters"
	default:
		checkText(errs, "name", in.Name, maxStageLen)
	}
	if in.Kind != nil && !slices.Contains(StageKinds, *in.Kind) {
		errs["kind"] = "must be one of: " + strings.Join(StageKinds, ", ")
	}
	if in.Probability != nil && (*in.Probability < 0 || *in.Probability > 100) {
		errs["probability"] = "must be a whole number from 0 to 100"
	}
	if in.SetRotDays && in.RotDays != nil && (*in.RotDays < 1 || *in.RotDays > MaxRotDays) {
		errs["rot_days"] = "must be a whole number of days from 1 to " + strconv.Itoa(MaxRotDays) + ", or null for never"
	}
	if in.Position != nil && *in.Position < 0 {
		errs["position"] = "must be 0 or more"
	}
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: errs}
}

// StageConflictError is a stage edit refused because of the pipeline as it is
// (a name taken, the last stage of a kind): Field names the input at fault. It
// is an ErrConflict.
type StageConflictError struct {
	Field, Msg string
}

func (e *StageConflictError) Error() string { return e.Field + ": " + e.Msg }

// Is makes a StageConflictError an ErrConflict.
func (e *StageConflictError) Is(target error) bool { return target == ErrConflict }

// Stage event actions (lead_events.action, migration 00016) and the event
// types the stream names them by.
const (
	EventStageCreate  = "stage_create"
	EventStageUpdate  = "stage_update"
	EventStageDelete  = "stage_delete"
	EventStageReorder = "stage_reorder"

	StageCreated   = "stage.created"
	StageUpdated   = "stage.updated"
	StageDeleted   = "stage.deleted"
	StageReordered = "stage.reordered"
)

// Stages returns the pipeline's stages in board order.
func (s *Store) Stages(ctx context.Context) ([]Stage, error) {
	stages, err := listStages(ctx, s.q)
	return stages, translate(err)
}

// listStages reads the stages in board order through q (a transaction's, or
// the pool's).
func listStages(ctx context.Context, q *queries.Queries) ([]Stage, error) {
	rows, err := q.ListStages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list stages: %w", err)
	}
	return stagesFromRows(rows), nil
}

// GetStage returns the stage with id, or ErrNotFound.
func (s *Store) GetStage(ctx context.Context, id int) (Stage, error) {
	stages, err := s.Stages(ctx)
	if err != nil {
		return Stage{}, err
	}
	i := stageIndex(stages, id)
	if i < 0 {
		return Stage{}, ErrNotFound
	}
	return stages[i], nil
}

func stageIndex(stages []Stage, id int) int {
	return slices.IndexFunc(stages, func(st Stage) bool { return st.ID == id })
}

// closeStageLeads keeps the outcome of the leads of st, whose kind just
// changed, true: a lead in a won or lost stage is closed, one in an open stage
// is not. A stage becoming lost while the pipeline requires a lost reason is
// refused when any of its leads has none, as a move of them would be.
func closeStageLeads(ctx context.Context, q *queries.Queries, st Stage) error {
	if st.Kind == StageLost {
		if err := checkLostReasons(ctx, q, st.Name); err != nil {
			return err
		}
	}
	if _, err := q.SetStageLeadsClosed(ctx, queries.SetStageLeadsClosedParams{Open: st.Kind == StageOpen, Status: st.Name}); err != nil {
		return fmt.Errorf("close the leads of %s: %w", st.Name, err)
	}
	return nil
}

// checkLostReasons refuses to make the leads of stage name lost, by a kind
// change or by deleting their stage into a lost one, when the pipeline
// requires a lost reason and any of them has none: every path that loses a
// lead refuses alike, naming lost_reason.
func checkLostReasons(ctx context.Context, q *queries.Queries, name string) error {
	req, err := q.GetPipelineSettings(ctx)
	if err != nil {
		return fmt.Errorf("pipeline settings: %w", err)
	}
	if !req {
		return nil
	}
	n, err := q.CountStageLeadsWithoutReason(ctx, name)
	if err != nil {
		return fmt.Errorf("count leads without a lost reason: %w", err)
	}
	if n > 0 {
		return fieldError("lost_reason", fmt.Sprintf("%s: %d lead(s) of %s would be lost without one; give them a reason or move them first", MsgLostReasonRequired, n, name))
	}
	return nil
}

// checkStageName refuses a name another stage has (without regard to case).
func checkStageName(stages []Stage, name string, self int) error {
	for _, st := range stages {
		if st.ID != self && strings.EqualFold(st.Name, name) {
			return &StageConflictError{Field: "name", Msg: "a stage named " + st.Name + " exists already"}
		}
	}
	return nil
}

// checkKinds refuses a pipeline without an open, a won and a lost stage:
// leads need somewhere to be worked on, and both outcomes need a stage (a
// lost move asks for a reason, the forecast counts won value).
func checkKinds(stages []Stage, field string) error {
	for _, kind := range StageKinds {
		if !slices.ContainsFunc(stages, func(st Stage) bool { return st.Kind == kind }) {
			return &StageConflictError{Field: field, Msg: "the pipeline must keep at least one " + kind + " stage"}
		}
	}
	return nil
}

// CreateStage validates in and adds the stage: where in.Position says, else
// an open stage before the first won or lost one, and a won or lost stage at
// the end. Kind defaults to open, probability to 0, rot_days to never.
func (s *Store) CreateStage(ctx context.Context, in StageInput) (Stage, error) {
	in.Normalize()
	if verr := in.Validate(true); verr != nil {
		return Stage{}, verr
	}
	kind := StageOpen
	if in.Kind != nil {
		kind = *in.Kind
	}
	var created Stage
	err := s.inTx(ctx, func(q *queries.Queries) error {
		stages, err := lockAllStages(ctx, q)
		if err != nil {
			return err
		}
		if len(stages) >= MaxStages {
			return &StageConflictError{Field: "name", Msg: "the pipeline has " + strconv.Itoa(MaxStages) + " stages, the most it may have"}
		}
		if err := checkStageName(stages, *in.Name, 0); err != nil {
			return err
		}
		at := len(stages)
		if in.Position != nil {
			at = min(*in.Position, len(stages))
		} else if kind == StageOpen {
			if i := slices.IndexFunc(stages, Stage.IsClosed); i >= 0 {
				at = i
			}
		}
		// Inserted at the end first, then moved into place with the others.
		row, err := q.InsertStage(ctx, queries.InsertStageParams{
			Name: *in.Name, Position: int32(maxPosition(stages) + 1), Kind: kind,
			Probability: int16(deref0(in.Probability)), RotDays: int32Ptr(in.RotDays),
		})
		if err != nil {
			return fmt.Errorf("insert stage: %w", err)
		}
		created = stageFromRow(row)
		order := slices.Insert(slices.Clone(stages), at, created)
		if stages, err = setPositions(ctx, q, order); err != nil {
			return err
		}
		created = stages[at]
		return recordStageEvent(ctx, q, EventStageCreate, created, nil, stages)
	})
	return created, translateStage(err)
}

// UpdateStage changes the fields of stage id that in gives. A rename carries
// the stage's leads (and trashed leads) along; their history keeps the name
// they had then.
func (s *Store) UpdateStage(ctx context.Context, id int, in StageInput) (Stage, error) {
	in.Normalize()
	if verr := in.Validate(false); verr != nil {
		return Stage{}, verr
	}
	var updated Stage
	err := s.inTx(ctx, func(q *queries.Queries) error {
		stages, err := lockAllStages(ctx, q)
		if err != nil {
			return err
		}
		i := stageIndex(stages, id)
		if i < 0 {
			return ErrNotFound
		}
		before := stages[i]
		after := before
		if in.Name != nil {
			if err := checkStageName(stages, *in.Name, id); err != nil {
				return err
			}
			after.Name = *in.Name
		}
		if in.Kind != nil {
			after.Kind = *in.Kind
		}
		if in.Probability != nil {
			after.Probability = *in.Probability
		}
		if in.SetRotDays {
			after.RotDays = in.RotDays
		}
		stages[i] = after
		if err := checkKinds(stages, "kind"); err != nil {
			return err
		}
		if after != before || !equalRot(after.RotDays, before.RotDays) {
			row, err := q.UpdateStage(ctx, queries.UpdateStageParams{
				ID: int16(id), Name: after.Name, Kind: after.Kind,
				Probability: int16(after.Probability), RotDays: int32Ptr(after.RotDays),
			})
			if err != nil {
				return fmt.Errorf("update stage %d: %w", id, err)
			}
			after = stageFromRow(row)
			stages[i] = after
		}
		if after.Kind != before.Kind {
			if err := closeStageLeads(ctx, q, after); err != nil {
				return err
			}
		}
		if in.Position != nil {
			order := slices.Delete(slices.Clone(stages), i, i+1)
			at := min(*in.Position, len(order))
			order = slices.Insert(order, at, after)
			if stages, err = setPositions(ctx, q, order); err != nil {
				return err
			}
			after = stages[at]
		}
		updated = after
		changes := stageChanges(before, after)
		if len(changes) == 0 {
			return nil // nothing changed: no event
		}
		return recordStageEvent(ctx, q, EventStageUpdate, after, changes, stages)
	})
	return updated, translateStage(err)
}

// ReorderStages puts the stages in the order of ids, which must name every
// stage once.
func (s *Store) ReorderStages(ctx context.Context, ids []int) ([]Stage, error) {
	var out []Stage
	err := s.inTx(ctx, func(q *queries.Queries) error {
		stages, err := lockAllStages(ctx, q)
		if err != nil {
			return err
		}
		if len(ids) != len(stages) {
			return fieldError("order", "must list every stage once ("+strconv.Itoa(len(stages))+" stages)")
		}
		order := make([]Stage, len(ids))
		for n, id := range ids {
			i := stageIndex(stages, id)
			if i < 0 || slices.Contains(ids[:n], id) {
				return fieldError("order", "must list every stage once (stage "+strconv.Itoa(id)+" is unknown or listed twice)")
			}
			order[n] = stages[i]
		}
		before := stages
		if out, err = setPositions(ctx, q, order); err != nil {
			return err
		}
		if slices.EqualFunc(before, out, func(a, b Stage) bool { return a.ID == b.ID }) {
			return nil
		}
		return recordStageEvent(ctx, q, EventStageReorder, Stage{}, nil, out)
	})
	return out, translateStage(err)
}

// DeleteStage deletes stage id, moving its leads to the end of stage moveTo
// in their order (each move recorded in the lead's history) and pointing its
// trashed leads there. It returns the stage deleted and how many leads moved.
func (s *Store) DeleteStage(ctx context.Context, id, moveTo int) (Stage, int, error) {
	if moveTo == id {
		return Stage{}, 0, fieldError("move_to", "must be another stage than the one deleted")
	}
	var deleted Stage
	var moved int64
	err := s.inTx(ctx, func(q *queries.Queries) error {
		stages, err := lockAllStages(ctx, q)
		if err != nil {
			return err
		}
		i := stageIndex(stages, id)
		if i < 0 {
			return ErrNotFound
		}
		deleted = stages[i]
		j := stageIndex(stages, moveTo)
		if j < 0 {
			return fieldError("move_to", "must be the id of another stage; stage "+strconv.Itoa(moveTo)+" does not exist")
		}
		target := stages[j]
		rest := slices.Delete(slices.Clone(stages), i, i+1)
		if err := checkKinds(rest, "id"); err != nil {
			return err
		}
		if target.Kind == StageLost {
			if err := checkLostReasons(ctx, q, deleted.Name); err != nil {
				return err
			}
		}
		next, pos, err := endKey(ctx, q, target.Name)
		if err != nil {
			return err
		}
		a := eventActor(ctx)
		if moved, err = q.MoveStageLeads(ctx, queries.MoveStageLeadsParams{
			FromStatus: deleted.Name, ToStatus: target.Name,
			ActorKind: a.kind, ActorUserID: a.userID, ActorName: a.name,
			FirstPos: int64(pos), Base: next - keyGap, KeyGap: keyGap,
		}); err != nil {
			return fmt.Errorf("move the leads of %s to %s: %w", deleted.Name, target.Name, err)
		}
		if next+moved*keyGap >= math.MaxInt64/2 {
			return fmt.Errorf("no room for %d cards at the end of %s", moved, target.Name)
		}
		if _, err := q.MoveTrashedLeads(ctx, queries.MoveTrashedLeadsParams{FromStatus: deleted.Name, ToStatus: target.Name}); err != nil {
			return fmt.Errorf("move the trashed leads of %s: %w", deleted.Name, err)
		}
		if _, err := q.DeleteStage(ctx, int16(id)); err != nil {
			return fmt.Errorf("delete stage %d: %w", id, err)
		}
		if rest, err = setPositions(ctx, q, rest); err != nil {
			return err
		}
		changes := []FieldChange{{Field: "move_to", Old: "", New: target.Name}}
		return recordStageEvent(ctx, q, EventStageDelete, deleted, changes, rest)
	})
	return deleted, int(moved), translateStage(err)
}

// lockAllStages locks every stage (see the top of this file) and returns them
// in board order.
func lockAllStages(ctx context.Context, q *queries.Queries) ([]Stage, error) {
	rows, err := q.LockAllStages(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock stages: %w", err)
	}
	return stagesFromRows(rows), nil
}

// setPositions numbers order 0, 1, ... (writing only positions that change)
// and returns it renumbered. The caller holds every stage's lock.
func setPositions(ctx context.Context, q *queries.Queries, order []Stage) ([]Stage, error) {
	out := slices.Clone(order)
	for n := range out {
		if _, err := q.SetStagePosition(ctx, queries.SetStagePositionParams{ID: int16(out[n].ID), Position: int32(n)}); err != nil {
			return nil, fmt.Errorf("position stage %d: %w", out[n].ID, err)
		}
		out[n].Position = n
	}
	return out, nil
}

// stageChanges lists the fields of a stage that changed, values as text.
func stageChanges(before, after Stage) []FieldChange {
	var out []FieldChange
	add := func(field, old, new string) {
		if old != new {
			out = append(out, FieldChange{Field: field, Old: old, New: new})
		}
	}
	add("name", before.Name, after.Name)
	add("position", strconv.Itoa(before.Position), strconv.Itoa(after.Position))
	add("kind", before.Kind, after.Kind)
	add("probability", strconv.Itoa(before.Probability), strconv.Itoa(after.Probability))
	add("rot_days", rotText(before.RotDays), rotText(after.RotDays))
	return out
}

func rotText(d *int) string {
	if d == nil {
		return ""
	}
	return strconv.Itoa(*d)
}

func equalRot(a, b *int) bool { return rotText(a) == rotText(b) }

// recordStageEvent writes a stage event in the caller's transaction: st is
// the stage after the change (as it was, for a delete; zero for a reorder),
// stages the pipeline after it.
func recordStageEvent(ctx context.Context, q *queries.Queries, action string, st Stage, changes []FieldChange, stages []Stage) error {
	if changes == nil {
		changes = []FieldChange{}
	}
	ch, err := json.Marshal(changes)
	if err != nil {
		return fmt.Errorf("encode changes: %w", err)
	}
	var stage []byte
	if st.ID != 0 {
		if stage, err = json.Marshal(st); err != nil {
			return fmt.Errorf("encode stage: %w", err)
		}
	}
	all, err := json.Marshal(stages)
	if err != nil {
		return fmt.Errorf("encode stages: %w", err)
	}
	a := eventActor(ctx)
	if err := q.InsertStageEvent(ctx, queries.InsertStageEventParams{
		Action: action, Changes: ch, ActorKind: a.kind, ActorUserID: a.userID, ActorName: a.name, Stage: stage, Stages: all,
	}); err != nil {
		return fmt.Errorf("record %s: %w", action, err)
	}
	return nil
}

// translateStage is translate, with the one constraint a stage edit can still
// meet after its checks (two admins adding the same name at once, each before
// the other committed) named as the field it is about.
func translateStage(err error) error {
	err = translate(err)
	if errors.Is(err, ErrConflict) && strings.Contains(err.Error(), "stages_lower_name_key") || strings.Contains(fmt.Sprint(err), "stages_name_key") {
		return &StageConflictError{Field: "name", Msg: "a stage with this name exists already"}
	}
	return err
}

func maxPosition(stages []Stage) int {
	p := -1
	for _, st := range stages {
		p = max(p, st.Position)
	}
	return p
}

func deref0(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func int32Ptr(p *int) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}
