package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewEmptyDB creates an empty database (no migrations: another application's
// schema, such as the original backend's, goes in it) for the test, returns
// its URL, and drops it when the test ends.
func NewEmptyDB(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	defer admin.Close(ctx)
	name := "crm_e_" + randomHex(8)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create empty test database: %v", err)
	}
	return dropWithTest(t, name)
}
