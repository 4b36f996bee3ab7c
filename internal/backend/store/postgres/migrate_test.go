package postgres

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// openConcurrently opens n stores on the same schema at once, each with its own pool, as n provider processes
// starting together would, and checks that every one succeeds.
func openConcurrently(t *testing.T, n int, cfg Config, steps []migration) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := open(t.Context(), cfg, steps)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.Close()
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Open: %v", err)
	}
}

func migrationRows(t *testing.T, admin *pgxpool.Pool, schema string) []int64 {
	t.Helper()
	rows, err := admin.Query(t.Context(), "SELECT version FROM "+quote(schema)+".schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return versions
}

// oldRelease builds, by hand, what an older release left behind: version 1 recorded, sandbox_sandboxes with
// fewer columns (text without the "C" collation, one index), no other table, and three records. It returns
// the records as Get must still return them.
func oldRelease(t *testing.T, admin *pgxpool.Pool, schema string, urlColumn string) map[string]backend.Attrs {
	t.Helper()
	q := quote(schema)
	mustExec(t, admin, "CREATE SCHEMA "+q)
	mustExec(t, admin, "CREATE TABLE "+q+`.schema_migrations (version bigint PRIMARY KEY, name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now())`)
	mustExec(t, admin, "INSERT INTO "+q+".schema_migrations (version, name) VALUES (1, 'record tables')")
	mustExec(t, admin, "CREATE TABLE "+q+`.sandbox_sandboxes (id uuid PRIMARY KEY, "provider" text, "status" text,
  "createdAt" numeric, "params" jsonb, `+quote(urlColumn)+` text)`)
	mustExec(t, admin, "CREATE INDEX sandbox_sandboxes_status_idx ON "+q+".sandbox_sandboxes (status)")
	want := map[string]backend.Attrs{}
	for i := range 3 {
		id := backend.NewID()
		url := fmt.Sprintf("https://sb-%d.example", i)
		mustExec(t, admin, "INSERT INTO "+q+`.sandbox_sandboxes (id, provider, status, "createdAt", params, `+
			quote(urlColumn)+`) VALUES ($1, 'daytona', 'active', $2, '{"daytona": {"ephemeral": true}}', $3)`,
			id, int64(1763000000000+i), url)
		want[id] = backend.Attrs{
			"provider": "daytona", "status": "active", "createdAt": int64(1763000000000 + i),
			"params": map[string]any{"daytona": map[string]any{"ephemeral": true}},
		}
		if urlColumn == "sandboxUrl" {
			want[id]["sandboxUrl"] = url
		}
	}
	return want
}

func checkRecords(t *testing.T, s *Store, want map[string]backend.Attrs) {
	t.Helper()
	for id, attrs := range want {
		r, err := s.Get(t.Context(), backend.EntitySandboxes, id)
		if err != nil {
			t.Errorf("Get(%s) after the migration: %v", id, err)
			continue
		}
		if !reflect.DeepEqual(r.Attrs, attrs) {
			t.Errorf("record %s after the migration = %v; want %v", id, r.Attrs, attrs)
		}
	}
}

// TestMigrateOlderSchema opens an older release's schema from six processes at once: the missing tables,
// columns and indexes appear, the rows stay, version 1 is recorded once.
func TestMigrateOlderSchema(t *testing.T) {
	dsn := sharedDB(t)
	admin := adminPool(t, dsn)
	schema := newSchemaName("legacy")
	want := oldRelease(t, admin, schema, "sandboxUrl")

	openConcurrently(t, 6, Config{URL: dsn, Schema: schema}, migrations)

	checkSchema(t, admin, schema)
	if v := migrationRows(t, admin, schema); !reflect.DeepEqual(v, []int64{1}) {
		t.Errorf("schema_migrations versions = %v; want [1]", v)
	}
	s := openStore(t, Config{URL: dsn, Schema: schema})
	checkRecords(t, s, want)
	for id := range want {
		r, err := s.Update(t.Context(), backend.EntitySandboxes, id, backend.Attrs{"shutdownAt": int64(5), "status": "shutdown"})
		if err != nil || r.Attrs["shutdownAt"] != int64(5) || r.String("provider") != "daytona" {
			t.Errorf("Update of a migrated record: %v, %v", r, err)
		}
	}
	recs, err := s.Query(t.Context(), backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{
		{Field: "shutdownAt", Op: backend.OpEq, Value: 5},
	}})
	if err != nil || len(recs) != len(want) {
		t.Errorf("Query on a column the migration added: %d records, %v; want %d", len(recs), err, len(want))
	}
}

// TestNumberedMigration runs a migration that the sync cannot derive (a rename) from six processes at once.
func TestNumberedMigration(t *testing.T) {
	dsn := sharedDB(t)
	admin := adminPool(t, dsn)
	schema := newSchemaName("renamed")
	want := oldRelease(t, admin, schema, "url")
	var runs sync.Map
	steps := append(append([]migration(nil), migrations...), migration{
		Version: 2,
		Name:    "rename sandbox_sandboxes.url to sandboxUrl",
		Up: func(ctx context.Context, tx pgx.Tx, schema string) error {
			runs.Store(tx, true)
			_, err := tx.Exec(ctx, "ALTER TABLE "+quote(schema)+`.sandbox_sandboxes RENAME COLUMN url TO "sandboxUrl"`)
			return err
		},
	})

	openConcurrently(t, 6, Config{URL: dsn, Schema: schema}, steps)

	n := 0
	runs.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("migration 2 ran %d times; want once", n)
	}
	checkSchema(t, admin, schema)
	if v := migrationRows(t, admin, schema); !reflect.DeepEqual(v, []int64{1, 2}) {
		t.Errorf("schema_migrations versions = %v; want [1 2]", v)
	}
	s, err := open(t.Context(), Config{URL: dsn, Schema: schema}, steps)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close() //nolint:errcheck // Close never fails
	for _, attrs := range want {
		created, _ := attrs["createdAt"].(int64)
		attrs["sandboxUrl"] = fmt.Sprintf("https://sb-%d.example", created-1763000000000)
	}
	checkRecords(t, s, want)

	// This release only knows version 1: it must refuse the newer schema rather than guess.
	_, err = Open(t.Context(), Config{URL: dsn, Schema: schema})
	if err == nil || !strings.Contains(err.Error(), "migration version 2") || !strings.Contains(err.Error(), "upgrade") {
		t.Errorf("Open of a newer schema: err = %v; want a refusal that says to upgrade", err)
	}
}

// TestFreshInstall checks that a fresh installation is made from the current schema and records every
// migration without running it.
func TestFreshInstall(t *testing.T) {
	dsn := sharedDB(t)
	admin := adminPool(t, dsn)
	schema := newSchemaName("fresh")
	steps := append(append([]migration(nil), migrations...), migration{
		Version: 2, Name: "never runs on a fresh install",
		Up: func(context.Context, pgx.Tx, string) error { return errors.New("ran on a fresh install") },
	})
	openConcurrently(t, 8, Config{URL: dsn, Schema: schema}, steps)
	checkSchema(t, admin, schema)
	if v := migrationRows(t, admin, schema); !reflect.DeepEqual(v, []int64{1, 2}) {
		t.Errorf("schema_migrations versions = %v; want [1 2]", v)
	}
}

// TestWrongColumnType checks that a column the sync cannot fix stops Open and leaves the schema untouched.
func TestWrongColumnType(t *testing.T) {
	dsn := sharedDB(t)
	admin := adminPool(t, dsn)
	schema := newSchemaName("wrongtype")
	mustExec(t, admin, "CREATE SCHEMA "+quote(schema))
	mustExec(t, admin, "CREATE TABLE "+quote(schema)+`.sandbox_sandboxes (id uuid PRIMARY KEY, status integer)`)
	_, err := Open(t.Context(), Config{URL: dsn, Schema: schema})
	if err == nil || !strings.Contains(err.Error(), "sandbox_sandboxes.status is integer, want text") {
		t.Fatalf("Open: err = %v; want it to name the column of the wrong type", err)
	}
	var n int
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = $1", schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the failed Open left %d tables; want the one that was there (nothing committed)", n)
	}
}
