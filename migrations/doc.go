// Package migrations holds the numbered SQL migrations, embedded in the binary and
// applied by goose at start (and by "crm migrate"). sqlc reads the same files as
// its schema. Migrations are append-only once landed.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
