package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres/pgtest"
)

// TestMain shares one PostgreSQL server between the package's tests (see pgtest).
func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	schemaSeq    atomic.Int64
	sharedDBOnce sync.Once
	sharedDBDSN  string
	sharedDBErr  error
)

// sharedDB returns the connection string of a database that the package's tests share, each in its own
// schema: creating a database costs a few hundred milliseconds, a schema much less.
func sharedDB(t testing.TB) string {
	t.Helper()
	srv := pgtest.StartShared(t)
	sharedDBOnce.Do(func() {
		sharedDBDSN, sharedDBErr = srv.CreateDatabase(context.Background(), "shared")
	})
	if sharedDBErr != nil {
		t.Fatal(sharedDBErr)
	}
	return sharedDBDSN
}

// freshStore opens a store in a new schema of the shared database.
func freshStore(t testing.TB) *Store {
	t.Helper()
	return openStore(t, Config{URL: sharedDB(t), Schema: newSchemaName("t")})
}

// newSchemaName returns a schema name not used before in this test binary.
func newSchemaName(prefix string) string {
	return fmt.Sprintf("%s_%d", prefix, schemaSeq.Add(1))
}

// openStore opens a store on dsn and closes it when t ends.
func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// adminPool is a superuser pool on dsn, closed when t ends, for tests that look behind the store.
func adminPool(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatalf("pgxpool.New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func mustExec(t testing.TB, p *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := p.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
