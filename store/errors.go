package store

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound means the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict means the write collided with the current state of the data.
var ErrConflict = errors.New("conflict")

// ErrUnavailable means the database could not be reached or refused the work for a
// reason that is not the caller's fault; trying again later may succeed.
var ErrUnavailable = errors.New("database unavailable")

// ValidationError lists what is wrong with an input, field by field.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	keys := slices.Sorted(maps.Keys(e.Fields))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+e.Fields[k])
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// fieldError returns a ValidationError for one field.
func fieldError(field, msg string) *ValidationError {
	return &ValidationError{Fields: map[string]string{field: msg}}
}

// translate turns pgx and PostgreSQL errors into the store's error values. Check
// constraints are the last guard behind Validate: reaching one is still the
// caller's bad input, not a server fault.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return fmt.Errorf("%w: %s", ErrConflict, pgErr.ConstraintName)
		case "40001", "40P01":
			// Still failing after retry's attempts: busy writers in one column.
			return fmt.Errorf("%w: concurrent changes, try again", ErrConflict)
		case "23514", "22001", "22003", "22P02", "23502", "22021", "22P05":
			return &ValidationError{Fields: map[string]string{fieldOfConstraint(pgErr): "is not valid"}}
		case "23503":
			return fieldError("status", "is not a stage")
		case "CR001":
			// move_lead (migration 00016): a lost move without a reason while
			// the pipeline requires one, on whichever path it came.
			return fieldError("lost_reason", MsgLostReasonRequired)
		case "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006":
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func fieldOfConstraint(pgErr *pgconn.PgError) string {
	if pgErr.ColumnName != "" {
		return pgErr.ColumnName
	}
	// Check constraints are named leads_<column>_check by PostgreSQL.
	name := strings.TrimSuffix(strings.TrimPrefix(pgErr.ConstraintName, "leads_"), "_check")
	if name == "" {
		return "input"
	}
	return name
}
