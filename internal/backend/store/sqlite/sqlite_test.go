package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// rawOpen opens the file with a plain connection, as another program (or the sqlite3 tool) would.
func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(t.Context(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func queryString(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	var v any
	if err := db.QueryRowContext(t.Context(), query, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return fmt.Sprint(v)
}

func queryStrings(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var out []string
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(v))
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	return out
}

func closeStore(t *testing.T, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestOpenCreatesFileAndSettings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "records.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	if s.Kind() != "sqlite" || s.Path() != path {
		t.Errorf("Kind, Path = %q, %q", s.Kind(), s.Path())
	}
	for _, d := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("%s mode = %o; want 700", d, perm)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s mode = %o; want 600", path, perm)
	}
	for name, db := range map[string]*sql.DB{"writer": s.writer, "reader": s.reader} {
		for pragma, want := range map[string]string{
			"journal_mode": "wal",
			"busy_timeout": "10000",
			"synchronous":  "1", // NORMAL
			"foreign_keys": "1",
		} {
			if got := queryString(t, db, "PRAGMA "+pragma); got != want {
				t.Errorf("%s: PRAGMA %s = %s; want %s", name, pragma, got, want)
			}
		}
	}
	if got := queryString(t, s.reader, "PRAGMA query_only"); got != "1" {
		t.Errorf("reader: PRAGMA query_only = %s; want 1", got)
	}
	if _, err := s.Create(t.Context(), backend.EntityVolumes, backend.NewID(), backend.Attrs{"name": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s mode = %o; want 600, as the database file", f, perm)
		}
	}
}

// TestOpenOddPath opens a file whose path has characters that mean something in a URI.
func TestOpenOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir with spaces?x=1#frag%20", "récords.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	id := backend.NewID()
	if _, err := s.Create(ctx, backend.EntityVolumes, id, backend.Attrs{"name": "v"}); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the given path: %v", err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	if _, err := s.Get(ctx, backend.EntityVolumes, id); err != nil {
		t.Errorf("Get after reopening: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not an SQLite database\n", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"empty path":       "",
		"a directory":      dir,
		"not a database":   notDB,
		"parent is a file": filepath.Join(blocker, "records.db"),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(path)
			if err == nil {
				closeStore(t, s)
				t.Fatalf("Open(%q) succeeded; want an error", path)
			}
			t.Logf("Open(%q): %v", path, err)
		})
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("HOME", "/home/someone")
	for xdg, want := range map[string]string{
		"/data":    "/data/terraform-provider-sandbox/records.db",
		"":         "/home/someone/.local/share/terraform-provider-sandbox/records.db",
		"relative": "/home/someone/.local/share/terraform-provider-sandbox/records.db",
	} {
		t.Setenv("XDG_DATA_HOME", xdg)
		got, err := DefaultPath()
		if err != nil {
			t.Fatalf("XDG_DATA_HOME=%q: %v", xdg, err)
		}
		if got != want {
			t.Errorf("XDG_DATA_HOME=%q: DefaultPath() = %q; want %q", xdg, got, want)
		}
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "")
	if got, err := DefaultPath(); err == nil {
		t.Errorf("without HOME or XDG_DATA_HOME: DefaultPath() = %q, nil; want an error", got)
	}
}

// TestFileLayout checks what a person sees with the sqlite3 tool.
func TestFileLayout(t *testing.T) {
	s := openTemp(t)
	defer closeStore(t, s)
	ctx := t.Context()
	id := backend.NewID()
	if _, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{
		"provider":  "local",
		"status":    backend.StatusActive,
		"createdAt": int64(1763912345678),
		"vcpus":     0.5,
		"timeout":   300000.0,
		"ports":     []int{3000, 8080},
		"params":    map[string]any{"local": map[string]any{"dir": "/tmp/x"}},
	}); err != nil {
		t.Fatal(err)
	}
	db := rawOpen(t, s.Path())

	tables := queryStrings(t, db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	want := append(backend.EntityNames(), "schema_migrations")
	slices.Sort(want)
	if !slices.Equal(tables, want) {
		t.Errorf("tables = %v; want %v", tables, want)
	}
	for _, e := range backend.Entities() {
		rows, err := db.QueryContext(ctx, "SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid", e.Name)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var name, typ string
			var pk int
			if err := rows.Scan(&name, &typ, &pk); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %s %d", name, typ, pk))
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		wantCols := []string{"id TEXT 1"}
		for _, f := range e.Fields {
			typ := map[backend.FieldType]string{
				backend.TypeString: "TEXT", backend.TypeJSON: "TEXT", backend.TypeNumber: "NUMERIC", backend.TypeBoolean: "INTEGER",
			}[f.Type]
			wantCols = append(wantCols, fmt.Sprintf("%s %s 0", f.Name, typ))
		}
		if !slices.Equal(got, wantCols) {
			t.Errorf("%s columns = %v; want %v", e.Name, got, wantCols)
		}
		for _, f := range e.Fields {
			cols := queryStrings(t, db, "SELECT name FROM pragma_index_info(?) ORDER BY seqno", indexName(e.Name, f.Name))
			switch {
			case f.Indexed && (len(cols) == 0 || cols[0] != f.Name):
				t.Errorf("index %s has columns %v; want it to start with %s", indexName(e.Name, f.Name), cols, f.Name)
			case !f.Indexed && len(cols) > 0:
				t.Errorf("%s.%s is not indexed in the schema but has an index", e.Name, f.Name)
			}
		}
	}

	row := db.QueryRowContext(ctx, `SELECT typeof(createdAt), createdAt, typeof(vcpus), typeof(timeout), ports, params,
		sandboxUrl IS NULL FROM sandbox_sandboxes WHERE id = ?`, id)
	var createdType, vcpusType, timeoutType, ports, params string
	var created int64
	var urlNull bool
	if err := row.Scan(&createdType, &created, &vcpusType, &timeoutType, &ports, &params, &urlNull); err != nil {
		t.Fatal(err)
	}
	if createdType != "integer" || created != 1763912345678 || vcpusType != "real" || timeoutType != "integer" {
		t.Errorf("typeof(createdAt), createdAt, typeof(vcpus), typeof(timeout) = %s, %d, %s, %s; want integer, 1763912345678, real, integer",
			createdType, created, vcpusType, timeoutType)
	}
	if ports != "[3000,8080]" || params != `{"local":{"dir":"/tmp/x"}}` || !urlNull {
		t.Errorf("ports, params, sandboxUrl IS NULL = %s, %s, %v", ports, params, urlNull)
	}
	if got := queryStrings(t, db, "SELECT version FROM schema_migrations"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("schema_migrations versions = %v; want [1]", got)
	}

	// The same through the sqlite3 command line tool, when it is installed.
	cli, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Log("sqlite3 is not installed; skipping the command line check")
		return
	}
	out, err := exec.CommandContext(ctx, cli, s.Path(), "select createdAt, vcpus, ports from sandbox_sandboxes").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "1763912345678|0.5|[3000,8080]" {
		t.Errorf("sqlite3 prints %q; want 1763912345678|0.5|[3000,8080]", got)
	}
}

// TestMigrateOldFile opens a file written by hand in the shape an older provider would have left: version 1,
// fewer columns and indexes, missing tables, rows, rollback journal. Open must migrate it and keep the rows.
func TestMigrateOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.db")
	old := rawOpen(t, path)
	ids := []string{backend.NewID(), backend.NewID(), backend.NewID()}
	mustExec(t, old,
		"PRAGMA journal_mode = DELETE",
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
		"INSERT INTO schema_migrations VALUES (1, 1700000000000)",
		`CREATE TABLE sandbox_sandboxes ("id" TEXT PRIMARY KEY NOT NULL, "provider" TEXT, "status" TEXT, "createdAt" NUMERIC)`,
		`CREATE INDEX idx_sandbox_sandboxes_status ON sandbox_sandboxes ("status", "createdAt", "id")`,
		`CREATE TABLE sandbox_volumes ("id" TEXT PRIMARY KEY NOT NULL, "name" TEXT)`,
	)
	for i, id := range ids {
		if _, err := old.ExecContext(t.Context(), "INSERT INTO sandbox_sandboxes VALUES (?, 'local', 'active', ?)", id, 1763912345678+i); err != nil {
			t.Fatal(err)
		}
	}
	volID := backend.NewID()
	if _, err := old.ExecContext(t.Context(), "INSERT INTO sandbox_volumes VALUES (?, 'cache')", volID); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open of the old file: %v", err)
	}
	defer closeStore(t, s)
	ctx := t.Context()

	db := rawOpen(t, path)
	for _, e := range backend.Entities() {
		cols := queryStrings(t, db, "SELECT name FROM pragma_table_info(?)", e.Name)
		for _, f := range e.Fields {
			if !slices.Contains(cols, f.Name) {
				t.Errorf("after Open, %s has no column %s", e.Name, f.Name)
			}
			if f.Indexed && len(queryStrings(t, db, "SELECT name FROM pragma_index_info(?)", indexName(e.Name, f.Name))) == 0 {
				t.Errorf("after Open, %s.%s has no index", e.Name, f.Name)
			}
		}
	}
	if got := queryString(t, db, "PRAGMA journal_mode"); got != "wal" {
		t.Errorf("journal_mode = %s; want wal", got)
	}
	if got := queryStrings(t, db, "SELECT version || ':' || applied_at FROM schema_migrations"); !slices.Equal(got, []string{"1:1700000000000"}) {
		t.Errorf("schema_migrations = %v; want the old row only", got)
	}

	// The old rows are there, with only their old fields set.
	for i, id := range ids {
		rec, err := s.Get(ctx, backend.EntitySandboxes, id)
		if err != nil {
			t.Fatalf("Get old row: %v", err)
		}
		want := backend.Attrs{"provider": "local", "status": "active", "createdAt": int64(1763912345678 + i)}
		if !reflect.DeepEqual(rec.Attrs, want) {
			t.Errorf("old row = %v; want %v", rec.Attrs, want)
		}
	}
	if rec, err := s.Get(ctx, backend.EntityVolumes, volID); err != nil || rec.String("name") != "cache" {
		t.Errorf("old volume = %v, %v", rec, err)
	}
	// The new columns and indexes work on old rows.
	rec, err := s.Update(ctx, backend.EntitySandboxes, ids[1], backend.Attrs{"purpose": "ci", "params": map[string]any{"x": 1}})
	if err != nil {
		t.Fatalf("Update of an old row with new fields: %v", err)
	}
	if rec.String("purpose") != "ci" || rec.String("provider") != "local" {
		t.Errorf("updated old row = %v", rec.Attrs)
	}
	q := backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{{Field: "purpose", Op: backend.OpEq, Value: "ci"}}}
	recs, err := s.Query(ctx, q)
	if err != nil || len(recs) != 1 || recs[0].ID != ids[1] {
		t.Errorf("Query on a new column = %v, %v; want [%s]", recordIDs(recs), err, ids[1])
	}
	plan, err := s.ExplainQuery(ctx, q)
	if err != nil || !strings.Contains(plan, "USING INDEX idx_sandbox_sandboxes_purpose") {
		t.Errorf("plan of a query on a new indexed column:\n%s (err %v)", plan, err)
	}
	// New tables work too.
	if _, err := s.Create(ctx, backend.EntityProcesses, backend.NewID(), backend.Attrs{"sandboxId": ids[0], "exitCode": 0}); err != nil {
		t.Errorf("Create in a table the old file lacked: %v", err)
	}
}

// TestNumberedMigration appends a migration (as a later release would) and checks that it runs once, in order,
// on a file at version 1, and is recorded.
func TestNumberedMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	id := backend.NewID()
	if _, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"createdAt": 5}); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)

	saved := migrations
	t.Cleanup(func() { migrations = saved })
	runs := 0
	migrations = append(slices.Clone(saved), migration{
		version: 2,
		name:    "test: backfill updatedAt from createdAt",
		up: func(ctx context.Context, tx *sql.Tx) error {
			runs++
			_, err := tx.ExecContext(ctx, `UPDATE sandbox_sandboxes SET updatedAt = createdAt WHERE updatedAt IS NULL`)
			return err
		},
	})
	for range 2 {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := s.Get(ctx, backend.EntitySandboxes, id)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := rec.Int("updatedAt"); n != 5 {
			t.Errorf("updatedAt after migration 2 = %v; want 5", rec.Attrs["updatedAt"])
		}
		closeStore(t, s)
	}
	if runs != 1 {
		t.Errorf("migration 2 ran %d times; want once", runs)
	}
	db := rawOpen(t, path)
	if got := queryStrings(t, db, "SELECT version FROM schema_migrations ORDER BY version"); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("schema_migrations versions = %v; want [1 2]", got)
	}
}

// TestNewerFile opens a file that a newer provider migrated further: it is used as it is.
func TestNewerFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)
	db := rawOpen(t, path)
	mustExec(t, db,
		"INSERT INTO schema_migrations VALUES (99, 1)",
		`ALTER TABLE sandbox_sandboxes ADD COLUMN "futureField" TEXT`,
	)
	s, err = Open(path)
	if err != nil {
		t.Fatalf("Open of a file from a newer provider: %v", err)
	}
	defer closeStore(t, s)
	if _, err := s.Create(t.Context(), backend.EntitySandboxes, backend.NewID(), backend.Attrs{"status": "active"}); err != nil {
		t.Errorf("Create: %v", err)
	}
	if got := queryStrings(t, db, "SELECT version FROM schema_migrations ORDER BY version"); !slices.Equal(got, []string{"1", "99"}) {
		t.Errorf("schema_migrations versions = %v; want [1 99]", got)
	}
}

// TestOpenConcurrently opens one new file from many goroutines at once, each with its own Store (as separate
// terraform processes would): the file is created and migrated once, and every Store works.
func TestOpenConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "records.db")
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(path)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer closeStore(t, stores[i])
	}
	ctx := t.Context()
	shared := backend.NewID()
	if _, err := stores[0].Create(ctx, backend.EntitySandboxes, shared, backend.Attrs{"status": "creating"}); err != nil {
		t.Fatal(err)
	}
	fields := []string{"externalSandboxId", "provider", "sandboxUrl", "status", "runtime", "purpose", "params", "ports"}
	for i, s := range stores {
		wg.Go(func() {
			for r := range 5 {
				v := any(fmt.Sprintf("store%d-r%d", i, r))
				if fields[i] == "params" || fields[i] == "ports" {
					v = []any{i, r}
				}
				if _, err := s.Update(ctx, backend.EntitySandboxes, shared, backend.Attrs{fields[i]: v}); err != nil {
					t.Errorf("store %d: Update: %v", i, err)
				}
				if _, err := s.Create(ctx, backend.EntityProcesses, backend.NewID(), backend.Attrs{"sandboxId": shared}); err != nil {
					t.Errorf("store %d: Create: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	rec, err := stores[n-1].Get(ctx, backend.EntitySandboxes, shared)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fields {
		want := any(fmt.Sprintf("store%d-r4", i))
		if f == "params" || f == "ports" {
			want = []any{int64(i), int64(4)}
		}
		if !reflect.DeepEqual(rec.Attrs[f], want) {
			t.Errorf("shared.%s = %v; want %v (lost update)", f, rec.Attrs[f], want)
		}
	}
	recs, err := stores[3].Query(ctx, backend.Query{Entity: backend.EntityProcesses, Where: []backend.Cond{{Field: "sandboxId", Op: backend.OpEq, Value: shared}}})
	if err != nil || len(recs) != n*5 {
		t.Errorf("processes = %d, %v; want %d", len(recs), err, n*5)
	}
	db := rawOpen(t, path)
	if got := queryStrings(t, db, "SELECT version FROM schema_migrations"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("schema_migrations versions = %v; want [1] (migrated once)", got)
	}
}

// TestWaitsForAnotherWriter holds the write lock from another connection for a while: a write through the
// store waits for it (busy timeout) instead of failing with "database is locked".
func TestWaitsForAnotherWriter(t *testing.T) {
	s := openTemp(t)
	defer closeStore(t, s)
	ctx := t.Context()
	other := rawOpen(t, s.Path())
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := conn.Close(); err != nil {
			t.Error(err)
		}
	}()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "INSERT INTO sandbox_sandboxes (id, status) VALUES (?, 'other')", backend.NewID()); err != nil {
		t.Fatal(err)
	}
	const hold = 500 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		time.Sleep(hold)
		_, err := conn.ExecContext(ctx, "COMMIT")
		done <- err
	}()
	start := time.Now()
	rec, err := s.Create(ctx, backend.EntitySandboxes, backend.NewID(), backend.Attrs{"status": "mine"})
	waited := time.Since(start)
	if err != nil {
		t.Fatalf("Create while another connection writes: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if waited < hold/2 {
		t.Errorf("Create returned after %v, before the other writer committed", waited)
	}
	// Reads are not blocked by a writer at all (WAL).
	if _, err := s.Get(ctx, backend.EntitySandboxes, rec.ID); err != nil {
		t.Error(err)
	}
	recs, err := s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes})
	if err != nil || len(recs) != 2 {
		t.Errorf("Query = %d records, %v; want 2", len(recs), err)
	}
}

// TestMultiProcess runs several processes (this test binary, as TestHelperProcess) that open one new file at
// the same time and then write to it concurrently, the shared record included.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "records.db")
	shared := backend.NewID()
	const procs, rounds, goroutines = 4, 10, 4
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for i := range procs {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(),
			"SQLITE_HELPER_DB="+path,
			"SQLITE_HELPER_SHARED="+shared,
			"SQLITE_HELPER_WORKER="+strconv.Itoa(i),
			"SQLITE_HELPER_ROUNDS="+strconv.Itoa(rounds),
			"SQLITE_HELPER_GOROUTINES="+strconv.Itoa(goroutines),
		)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatalf("start process %d: %v", i, err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	if t.Failed() {
		return
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(t, s)
	ctx := t.Context()
	recs, err := s.Query(ctx, backend.Query{Entity: backend.EntityProcesses, Where: []backend.Cond{{Field: "sandboxId", Op: backend.OpEq, Value: shared}}})
	if err != nil || len(recs) != procs*goroutines*rounds {
		t.Errorf("records written by the processes = %d, %v; want %d", len(recs), err, procs*goroutines*rounds)
	}
	rec, err := s.Get(ctx, backend.EntitySandboxes, shared)
	if err != nil {
		t.Fatal(err)
	}
	for i := range procs {
		f := helperFields[i]
		if got, want := rec.String(f), fmt.Sprintf("p%d-r%d", i, rounds-1); got != want {
			t.Errorf("shared.%s = %q; want %q (lost update)", f, got, want)
		}
	}
	db := rawOpen(t, path)
	if got := queryStrings(t, db, "SELECT version FROM schema_migrations"); !slices.Equal(got, []string{"1"}) {
		t.Errorf("schema_migrations versions = %v; want [1] (migrated once)", got)
	}
}

// helperFields are the fields of the shared sandbox record that each helper process owns.
var helperFields = []string{"externalSandboxId", "sandboxUrl", "runtime", "purpose"}

// TestHelperProcess is a child process of TestMultiProcess.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv("SQLITE_HELPER_DB")
	if path == "" {
		t.Skip("run by TestMultiProcess")
	}
	shared := os.Getenv("SQLITE_HELPER_SHARED")
	worker, err1 := strconv.Atoi(os.Getenv("SQLITE_HELPER_WORKER"))
	rounds, err2 := strconv.Atoi(os.Getenv("SQLITE_HELPER_ROUNDS"))
	goroutines, err3 := strconv.Atoi(os.Getenv("SQLITE_HELPER_GOROUTINES"))
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer closeStore(t, s)
	ctx := t.Context()
	if _, err := s.Create(ctx, backend.EntitySandboxes, shared, backend.Attrs{"status": "active"}); err != nil && !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("Create shared: %v", err)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				if _, err := s.Create(ctx, backend.EntityProcesses, backend.NewID(), backend.Attrs{"sandboxId": shared, "status": "running", "startedAt": r}); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				if g == 0 {
					if _, err := s.Update(ctx, backend.EntitySandboxes, shared, backend.Attrs{helperFields[worker]: fmt.Sprintf("p%d-r%d", worker, r)}); err != nil {
						t.Errorf("Update shared: %v", err)
						return
					}
				}
				if _, err := s.Query(ctx, backend.Query{Entity: backend.EntityProcesses, Where: []backend.Cond{{Field: "sandboxId", Op: backend.OpEq, Value: shared}}, Limit: 10}); err != nil {
					t.Errorf("Query: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestExplainQueryUsesIndex(t *testing.T) {
	s := openTemp(t)
	defer closeStore(t, s)
	ctx := t.Context()
	seedSandboxes(ctx, t, s, 2000)
	plan, err := s.ExplainQuery(ctx, benchQuery)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EXPLAIN QUERY PLAN (status = ? AND provider = ? ORDER BY createdAt LIMIT 100):\n%s", plan)
	if !strings.Contains(plan, "USING INDEX") {
		t.Errorf("the status+provider query does not use an index:\n%s", plan)
	}
	if strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("the status+provider query sorts its matches instead of reading them in index order:\n%s", plan)
	}
	// Every single-condition query on an indexed field searches that field's index; a range query in the
	// default order may instead scan the default order's index and stop at the limit (SQLite's choice), but
	// never the table itself.
	for _, e := range backend.Entities() {
		for _, f := range e.Fields {
			if !f.Indexed {
				continue
			}
			own := "SEARCH " + e.Name + " USING INDEX " + indexName(e.Name, f.Name) + " (" + f.Name
			queries := map[string]backend.Query{}
			switch f.Type {
			case backend.TypeNumber:
				queries[own] = backend.Query{Entity: e.Name, Where: []backend.Cond{{Field: f.Name, Op: backend.OpGt, Value: 1}}, OrderBy: f.Name, Limit: 10}
				queries["USING INDEX"] = backend.Query{Entity: e.Name, Where: []backend.Cond{{Field: f.Name, Op: backend.OpLt, Value: 1}}, Limit: 10}
				queries[own+"=?)"] = backend.Query{Entity: e.Name, Where: []backend.Cond{{Field: f.Name, Op: backend.OpEq, Value: 1}}, Limit: 10}
			default:
				queries[own+"=?)"] = backend.Query{Entity: e.Name, Where: []backend.Cond{{Field: f.Name, Op: backend.OpEq, Value: "x"}}, Limit: 10}
			}
			for want, q := range queries {
				plan, err := s.ExplainQuery(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(plan, want) || strings.Contains(plan, "SCAN "+e.Name+"\n") {
					t.Errorf("%+v: plan does not contain %q:\n%s", q, want, plan)
				}
			}
		}
	}
	if _, err := s.ExplainQuery(ctx, backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{{Field: "sandboxUrl", Op: backend.OpEq, Value: "x"}}}); err == nil {
		t.Error("ExplainQuery of an invalid query: err = nil")
	}
}

func TestCompile(t *testing.T) {
	_, stmt, args, err := compile(benchQuery)
	if err != nil {
		t.Fatal(err)
	}
	want := `SELECT "id", "externalSandboxId", "provider", "sandboxUrl", "status", "timeout", "runtime", "vcpus", "ports", "purpose", "params", "createdAt", "updatedAt", "shutdownAt"` +
		` FROM "sandbox_sandboxes" WHERE "status" = ? AND "provider" = ? ORDER BY "createdAt" ASC, "id" ASC LIMIT ?`
	if stmt != want {
		t.Errorf("statement:\n got %s\nwant %s", stmt, want)
	}
	if !reflect.DeepEqual(args, []any{"active", "local", 100}) {
		t.Errorf("args = %#v", args)
	}
	_, stmt, args, err = compile(backend.Query{Entity: backend.EntityProcesses, Where: []backend.Cond{
		{Field: "exitCode", Op: backend.OpGt, Value: 0.5}, {Field: "startedAt", Op: backend.OpLt, Value: 7},
	}, Desc: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(stmt, `WHERE "exitCode" > ? AND "startedAt" < ? ORDER BY "id" DESC`) || !reflect.DeepEqual(args, []any{0.5, int64(7)}) {
		t.Errorf("statement %s, args %#v", stmt, args)
	}
}

func TestErrorsNameEntityAndID(t *testing.T) {
	s := openTemp(t)
	defer closeStore(t, s)
	ctx := t.Context()
	id := backend.NewID()
	if _, err := s.Create(ctx, backend.EntityVolumes, id, backend.Attrs{"name": "v"}); err != nil {
		t.Fatal(err)
	}
	missing := backend.NewID()
	_, errGet := s.Get(ctx, backend.EntityVolumes, missing)
	_, errUpdate := s.Update(ctx, backend.EntityVolumes, missing, backend.Attrs{"name": "x"})
	_, errConflict := s.Create(ctx, backend.EntityVolumes, id, backend.Attrs{})
	_, errType := s.Update(ctx, backend.EntityVolumes, id, backend.Attrs{"name": 5})
	for name, c := range map[string]struct {
		err  error
		id   string
		want error
	}{
		"get":      {errGet, missing, backend.ErrNotFound},
		"update":   {errUpdate, missing, backend.ErrNotFound},
		"conflict": {errConflict, id, backend.ErrConflict},
		"type":     {errType, id, nil},
	} {
		if c.err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		msg := c.err.Error()
		if !strings.Contains(msg, backend.EntityVolumes) || !strings.Contains(msg, c.id) {
			t.Errorf("%s: error %q does not name the entity and the id", name, msg)
		}
		if c.want != nil && !errors.Is(c.err, c.want) {
			t.Errorf("%s: error %q does not wrap %v", name, msg, c.want)
		}
	}
}

// TestBadValuesInFile edits values by hand into shapes the store never writes: reading them is an error that
// names the record and the field, never a panic.
func TestBadValuesInFile(t *testing.T) {
	s := openTemp(t)
	defer closeStore(t, s)
	ctx := t.Context()
	db := rawOpen(t, s.Path())
	for column, value := range map[string]any{
		"params":    "{not json",
		"createdAt": "yesterday",
		"ports":     []byte{0xff, 0x00},
	} {
		t.Run(column, func(t *testing.T) {
			id := backend.NewID()
			if _, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"status": "active"}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, fmt.Sprintf(`UPDATE sandbox_sandboxes SET %q = ? WHERE id = ?`, column), value, id); err != nil {
				t.Fatal(err)
			}
			_, err := s.Get(ctx, backend.EntitySandboxes, id)
			if err == nil || !strings.Contains(err.Error(), id) || !strings.Contains(err.Error(), column) {
				t.Errorf("Get of a record with %s = %v: err = %v; want an error naming the id and the column", column, value, err)
			}
			if errors.Is(err, backend.ErrNotFound) {
				t.Errorf("a bad value is reported as not found: %v", err)
			}
			if _, err := s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes}); err == nil {
				t.Error("Query over a record with a bad value: err = nil")
			}
			if err := s.Delete(ctx, backend.EntitySandboxes, id); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestMigrationsAreOrdered(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 || m.name == "" || m.up == nil {
			t.Errorf("migration %d: version %d, name %q; versions must be 1, 2, 3, ... and every migration named", i, m.version, m.name)
		}
	}
}

func recordIDs(recs []*backend.Record) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}
