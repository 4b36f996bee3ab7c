// Package sqlite is the embedded default backend.Store: one SQLite file on the local disk, written with
// modernc.org/sqlite (pure Go, no cgo).
//
// The file shows the record data model directly, so that a person can inspect it with the sqlite3 command line
// tool:
//
//   - one table per entity, named exactly as the entity (sandbox_sandboxes, sandbox_processes, ...);
//   - a primary key "id" TEXT (the record's UUID) and one column per schema field, named exactly as the field
//     (camelCase; SQLite's identifiers are case-insensitive, so select createdAt from sandbox_sandboxes works);
//   - string fields as TEXT, json fields as JSON text in TEXT columns, number fields in NUMERIC columns (integral
//     numbers are stored as SQLite integers, so epoch milliseconds read as 1763912345678), booleans as INTEGER 0
//     or 1, and an unset field as NULL;
//   - an index named idx_<entity>_<field> on every field marked Indexed in the schema, on the columns (field,
//     createdAt, id) so that a filtered query ordered by creation time reads its rows in order and stops at its
//     limit (see indexColumns; on (field, id) for an entity without createdAt);
//   - a schema_migrations(version, applied_at) table listing the migrations applied to the file (see
//     migrate.go).
//
// Concurrency: Terraform runs up to -parallelism operations at once in one provider process, and two
// terraform processes may use the same file at the same time. The file is in WAL mode, so readers never block
// the writer nor each other. Within a process every write goes through one connection (a *sql.DB of one
// connection), so the process's goroutines queue in Go rather than fight for SQLite's lock; between processes
// SQLite's busy timeout (10 s) makes a writer wait for the other's transaction instead of failing with
// "database is locked". Every write is one SQL statement (INSERT ... RETURNING, UPDATE ... RETURNING,
// DELETE), atomic on its own, so an Update never loses another's change to a different field; the only
// multi-statement transaction, the migration at Open, starts with BEGIN IMMEDIATE so that it takes the write
// lock before it reads. Reads use a separate pool of read-only connections.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Kind is the value of Store.Kind.
const Kind = "sqlite"

const (
	// busyTimeout is how long a statement waits for another connection's (or process's) write lock before it
	// fails with SQLITE_BUSY.
	busyTimeout = 10 * time.Second
	// openTimeout bounds Open: switching to WAL and migrating, which may wait for other processes.
	openTimeout = 3 * busyTimeout
	// appDir is the directory of this provider's data under the user's data directory.
	appDir = "terraform-provider-sandbox"
	// fileName is the name of the default database file.
	fileName = "records.db"
)

// Store is a backend.Store over one SQLite file. It is safe for concurrent use by many goroutines, and several
// Stores (in one process or in several) may use the same file at once.
type Store struct {
	path   string
	writer *sql.DB // one connection; every write goes through it
	reader *sql.DB // read-only connections for Get and Query
	// Prepared statements by SQL text, one cache per pool: the pure-Go SQLite parses and plans a statement
	// again for every unprepared query, which was most of a record write's CPU in an apply (BENCHMARKS.md).
	writes, reads stmtCache
}

// maxCachedStmts bounds each statement cache: the store's SQL comes in a few dozen shapes (an INSERT or UPDATE
// per set of fields given, a SELECT per query's conditions), and a shape beyond the bound runs unprepared.
const maxCachedStmts = 256

type stmtCache struct {
	mu  sync.Mutex
	m   map[string]*sql.Stmt
	off bool // every query unprepared, as before the cache (BenchmarkRecordCreate's baseline)
}

// stmt returns the prepared statement for query on db, preparing it on first use. A statement that cannot be
// prepared (or a full cache) gives nil and no error: the caller then runs the query unprepared, which reports
// the error as before.
func (c *stmtCache) stmt(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[query]; ok {
		return st
	}
	if c.off || len(c.m) >= maxCachedStmts {
		return nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = st
	return st
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, st := range c.m {
		errs = append(errs, st.Close())
	}
	c.m = nil
	return errors.Join(errs...)
}

// queryRow runs a statement that returns at most one row, prepared once.
func (s *Store) queryRow(ctx context.Context, write bool, query string, args ...any) *sql.Row {
	db, c := s.reader, &s.reads
	if write {
		db, c = s.writer, &s.writes
	}
	if st := c.stmt(ctx, db, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.QueryRowContext(ctx, query, args...)
}

var _ backend.Store = (*Store)(nil)

// DefaultPath returns where the provider keeps its records when no path is configured:
// $XDG_DATA_HOME/terraform-provider-sandbox/records.db, or ~/.local/share/terraform-provider-sandbox/records.db
// when XDG_DATA_HOME is unset or not an absolute path (as the XDG Base Directory specification says).
func DefaultPath() (string, error) {
	if dir := os.Getenv("XDG_DATA_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, appDir, fileName), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("sqlite: default database path: %w", err)
	}
	return filepath.Join(home, ".local", "share", appDir, fileName), nil
}

// Open opens the database file at path, creating it (mode 0600) and its missing parent directories (mode 0700)
// on first use, switches it to WAL mode and brings its schema up to date (see migrate.go). Several processes
// may open the same file at once: the migrations run once, in a transaction.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: database path %q: %w", path, err)
	}
	// The errors of os name the path.
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()

	writer, err := sql.Open("sqlite", dsn(abs, "_txlock", "immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	if err := enableWAL(ctx, writer); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s: %w", abs, err), writer.Close())
	}
	if err := migrate(ctx, writer); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s: %w", abs, err), writer.Close())
	}

	reader, err := sql.Open("sqlite", dsn(abs, "_pragma", "query_only(1)"))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s: %w", abs, err), writer.Close())
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	if err := reader.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s: %w", abs, err), reader.Close(), writer.Close())
	}
	return &Store{path: abs, writer: writer, reader: reader}, nil
}

// dsn returns the driver's name for the file at the absolute path, with the per-connection settings and the
// extra key/value pairs.
func dsn(path string, extra ...string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	for i := 0; i+1 < len(extra); i += 2 {
		q.Add(extra[i], extra[i+1])
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// enableWAL switches the file to WAL mode. The mode is stored in the file, so this changes something only on
// first use; a new file opened by several processes at once may report SQLITE_BUSY, which is retried.
func enableWAL(ctx context.Context, db *sql.DB) error {
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("journal_mode is %q, want wal (is the file on a network file system?)", mode)
			}
			return nil
		}
		if !isBusy(err) {
			return fmt.Errorf("set WAL journal mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("set WAL journal mode: %w", err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED.
func isBusy(err error) bool {
	var se *sqlitedriver.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

// Kind returns "sqlite".
func (s *Store) Kind() string { return Kind }

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes the store's connections. The last connection to the file to close checkpoints the WAL into the
// database file.
func (s *Store) Close() error {
	if err := errors.Join(s.reads.close(), s.writes.close(), s.reader.Close(), s.writer.Close()); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// Create writes a new record. It returns an error wrapping backend.ErrConflict when the id exists.
func (s *Store) Create(ctx context.Context, entity, id string, attrs backend.Attrs) (*backend.Record, error) {
	t, err := lookupTable(entity)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create %s %s: %w", entity, id, err)
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("sqlite: create %s %q: the id is not a UUID in canonical form", entity, id)
	}
	norm, err := backend.NormalizeAttrs(entity, attrs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create %s %s: %w", entity, id, err)
	}
	cols := []string{quote("id")}
	marks := []string{"?"}
	args := []any{id}
	for _, f := range t.schema.Fields {
		v, ok := norm[f.Name]
		if !ok || v == nil {
			continue
		}
		enc, err := encode(f, v)
		if err != nil {
			return nil, fmt.Errorf("sqlite: create %s %s: %w", entity, id, err)
		}
		cols = append(cols, quote(f.Name))
		marks = append(marks, "?")
		args = append(args, enc)
	}
	stmt := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO NOTHING RETURNING %s",
		t.quoted, strings.Join(cols, ", "), strings.Join(marks, ", "), quote("id"), t.columns)
	rec, err := t.scan(s.queryRow(ctx, true, stmt, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: create %s %s: %w", entity, id, backend.ErrConflict)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: create %s %s: %w", entity, id, err)
	}
	return rec, nil
}

// Get loads one record. It returns an error wrapping backend.ErrNotFound when the record does not exist (a
// malformed id never exists).
func (s *Store) Get(ctx context.Context, entity, id string) (*backend.Record, error) {
	t, err := lookupTable(entity)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get %s %s: %w", entity, id, err)
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("sqlite: get %s %q: %w", entity, id, backend.ErrNotFound)
	}
	stmt := fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?", t.columns, t.quoted, quote("id"))
	rec, err := t.scan(s.queryRow(ctx, false, stmt, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: get %s %s: %w", entity, id, backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get %s %s: %w", entity, id, err)
	}
	return rec, nil
}

// Update sets the given fields (a nil value clears one) in one UPDATE statement and returns the record as
// stored. It returns an error wrapping backend.ErrNotFound when the record does not exist.
func (s *Store) Update(ctx context.Context, entity, id string, attrs backend.Attrs) (*backend.Record, error) {
	return s.update(ctx, "update", entity, id, attrs, nil)
}

// CompareAndUpdate is Update with the condition "field IS expect" in the same UPDATE statement, which SQLite
// runs under the file's write lock: of several processes swapping from the same value, one matches the row.
// When no row matched, a Get tells a missing record (backend.ErrNotFound) from a changed one
// (backend.ErrStale).
func (s *Store) CompareAndUpdate(ctx context.Context, entity, id, field string, expect any, attrs backend.Attrs) (*backend.Record, error) {
	f, want, err := backend.CheckCompareAndUpdate(entity, field, expect, attrs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: compare-and-update %s %s: %w", entity, id, err)
	}
	enc, err := encode(f, want)
	if err != nil {
		return nil, fmt.Errorf("sqlite: compare-and-update %s %s: %w", entity, id, err)
	}
	rec, err := s.update(ctx, "compare-and-update", entity, id, attrs, &casCond{field: field, value: enc})
	if errors.Is(err, backend.ErrNotFound) && backend.ValidID(id) {
		if _, gerr := s.Get(ctx, entity, id); gerr == nil {
			return nil, fmt.Errorf("sqlite: compare-and-update %s %s: %s is no longer %v: %w", entity, id, field, expect, backend.ErrStale)
		}
	}
	return rec, err
}

type casCond struct {
	field string
	value any
}

func (s *Store) update(ctx context.Context, op, entity, id string, attrs backend.Attrs, cond *casCond) (*backend.Record, error) {
	t, err := lookupTable(entity)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s %s %s: %w", op, entity, id, err)
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("sqlite: %s %s %q: %w", op, entity, id, backend.ErrNotFound)
	}
	norm, err := backend.NormalizeAttrs(entity, attrs)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s %s %s: %w", op, entity, id, err)
	}
	var sets []string
	var args []any
	for _, f := range t.schema.Fields {
		v, ok := norm[f.Name]
		if !ok {
			continue
		}
		enc, err := encode(f, v)
		if err != nil {
			return nil, fmt.Errorf("sqlite: %s %s %s: %w", op, entity, id, err)
		}
		sets = append(sets, quote(f.Name)+" = ?")
		args = append(args, enc)
	}
	if len(sets) == 0 {
		return s.Get(ctx, entity, id)
	}
	args = append(args, id)
	where := quote("id") + " = ?"
	if cond != nil {
		where += " AND " + quote(cond.field) + " IS ?"
		args = append(args, cond.value)
	}
	stmt := fmt.Sprintf("UPDATE %s SET %s WHERE %s RETURNING %s",
		t.quoted, strings.Join(sets, ", "), where, t.columns)
	rec, err := t.scan(s.queryRow(ctx, true, stmt, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: %s %s %s: %w", op, entity, id, backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s %s %s: %w", op, entity, id, err)
	}
	return rec, nil
}

// Delete removes a record. Deleting a missing record is not an error.
func (s *Store) Delete(ctx context.Context, entity, id string) error {
	t, err := lookupTable(entity)
	if err != nil {
		return fmt.Errorf("sqlite: delete %s %s: %w", entity, id, err)
	}
	if !backend.ValidID(id) {
		return nil
	}
	stmt := fmt.Sprintf("DELETE FROM %s WHERE %s = ?", t.quoted, quote("id"))
	if _, err := s.writer.ExecContext(ctx, stmt, id); err != nil {
		return fmt.Errorf("sqlite: delete %s %s: %w", entity, id, err)
	}
	return nil
}

// Query returns the matching records. The query is compiled to one SELECT statement: the conditions are its
// WHERE clause on the indexed columns, then ORDER BY and LIMIT; nothing is filtered in Go. Records with equal
// order values come in id order, so that the same query always gives the same answer.
func (s *Store) Query(ctx context.Context, q backend.Query) ([]*backend.Record, error) {
	t, stmt, args, err := compile(q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query %s: %w", q.Entity, err)
	}
	var rows *sql.Rows
	if st := s.reads.stmt(ctx, s.reader, stmt); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = s.reader.QueryContext(ctx, stmt, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: query %s: %w", q.Entity, err)
	}
	out := make([]*backend.Record, 0)
	for rows.Next() {
		rec, err := t.scan(rows)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sqlite: query %s: %w", q.Entity, err), rows.Close())
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: query %s: %w", q.Entity, err), rows.Close())
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: query %s: %w", q.Entity, err)
	}
	return out, nil
}

// ExplainQuery returns SQLite's EXPLAIN QUERY PLAN for the statement that Query runs for q, as the sqlite3
// command line tool prints it. For status = ? AND provider = ? ordered by createdAt it is:
//
//	QUERY PLAN
//	`--SEARCH sandbox_sandboxes USING INDEX idx_sandbox_sandboxes_status (status=?)
//
// (no "USE TEMP B-TREE FOR ORDER BY": the index returns the rows in createdAt order).
func (s *Store) ExplainQuery(ctx context.Context, q backend.Query) (string, error) {
	_, stmt, args, err := compile(q)
	if err != nil {
		return "", fmt.Errorf("sqlite: explain query %s: %w", q.Entity, err)
	}
	rows, err := s.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+stmt, args...)
	if err != nil {
		return "", fmt.Errorf("sqlite: explain query %s: %w", q.Entity, err)
	}
	type node struct {
		id     int64
		detail string
	}
	children := map[int64][]node{}
	for rows.Next() {
		var id, parent, notused int64
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			return "", errors.Join(fmt.Errorf("sqlite: explain query %s: %w", q.Entity, err), rows.Close())
		}
		children[parent] = append(children[parent], node{id: id, detail: detail})
	}
	if err := rows.Err(); err != nil {
		return "", errors.Join(fmt.Errorf("sqlite: explain query %s: %w", q.Entity, err), rows.Close())
	}
	if err := rows.Close(); err != nil {
		return "", fmt.Errorf("sqlite: explain query %s: %w", q.Entity, err)
	}
	var b strings.Builder
	b.WriteString("QUERY PLAN\n")
	var walk func(parent int64, indent string)
	walk = func(parent int64, indent string) {
		kids := children[parent]
		for i, n := range kids {
			branch, next := "|--", "|  "
			if i == len(kids)-1 {
				branch, next = "`--", "   "
			}
			b.WriteString(indent + branch + n.detail + "\n")
			if n.id != parent {
				walk(n.id, indent+next)
			}
		}
	}
	walk(0, "")
	return b.String(), nil
}
