// Package store is the only package that talks to PostgreSQL. It wraps the
// queries that sqlc generates in domain types (Lead, Stage, Board), runs multi-row
// writes in transactions, and translates database errors into ErrNotFound,
// ErrConflict and *ValidationError so callers never see pgx or sqlc types.
package store
