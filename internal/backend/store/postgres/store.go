// Package postgres is a backend.Store on PostgreSQL, through pgx and a bounded pgxpool.
//
// Each entity of backend.Entities() is a table of the same name inside Config.Schema, with an `id uuid primary
// key` column and one column per field, named exactly as the field (quoted camelCase): string fields are text,
// number fields numeric (integral values come back as int64, others as float64), json fields jsonb and boolean
// fields boolean. Every indexed field has a btree index named "<entity>_<field>_idx". Open creates the schema,
// the tables and the indexes, and migrates an older installation (see migrate.go), under an advisory lock so
// that several provider processes may open the same database at once.
//
// Every Store call is one SQL statement: queries filter on the indexed columns, order and limit on the server,
// and Update is a single UPDATE ... RETURNING.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Defaults of Config.
const (
	DefaultSchema   = "public"
	DefaultMaxConns = 8
)

// cancelGrace is how long a statement whose context ended may take to acknowledge its cancellation.
const cancelGrace = time.Second

// Config says where the records live.
type Config struct {
	// URL is a libpq connection string, as a URL (postgres://user:pass@host:5432/db?sslmode=require) or as
	// keyword/value pairs (host=... dbname=... sslmode=...). pgx parses it as libpq does, PG* environment
	// variables included.
	URL string
	// Schema holds the store's tables, so that one database can hold several installations. It is created when
	// missing (which needs the CREATE privilege on the database). Any name of at most 63 bytes; it is quoted,
	// so it is case-sensitive. Default "public".
	Schema string
	// MaxConns bounds the connection pool; it wins over a pool_max_conns parameter in URL. Default 8.
	MaxConns int32
}

// Store is a backend.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	schema   string
	password string // only to scrub it from error messages
	tables   map[string]*table
}

var _ backend.Store = (*Store)(nil)

// Open connects to the database, creates or migrates the schema and returns the store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	return open(ctx, cfg, migrations)
}

func open(ctx context.Context, cfg Config, steps []migration) (*Store, error) {
	if cfg.Schema == "" {
		cfg.Schema = DefaultSchema
	}
	if err := checkSchemaName(cfg.Schema); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgconn redacts the password of the connection string it quotes; scrub again in case it could not.
		return nil, scrub(fmt.Errorf("postgres: parse connection string: %w", err), passwordOf(cfg.URL))
	}
	pcfg.MaxConns = cfg.MaxConns
	// When a context ends, ask the server to cancel the running statement (the default only drops the
	// connection, and the server would then finish, say, an UPDATE waiting on a lock, after the caller was told
	// it failed). The connection is dropped if the server has not answered within cancelGrace.
	pcfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelGrace}
	}
	if pcfg.MinConns > pcfg.MaxConns {
		pcfg.MinConns = pcfg.MaxConns
	}
	s := &Store{
		schema:   cfg.Schema,
		password: pcfg.ConnConfig.Password,
		tables:   make(map[string]*table),
	}
	for _, e := range backend.Entities() {
		s.tables[e.Name] = newTable(cfg.Schema, e)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, s.fail(ctx, "connect", err)
	}
	s.pool = pool
	if err := s.migrate(ctx, steps); err != nil {
		pool.Close()
		return nil, s.fail(ctx, fmt.Sprintf("migrate schema %q", cfg.Schema), err)
	}
	return s, nil
}

// Kind returns "postgres".
func (s *Store) Kind() string { return "postgres" }

// Schema returns the schema that holds the store's tables.
func (s *Store) Schema() string { return s.schema }

// Close closes the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Create inserts a record. It returns an error wrapping backend.ErrConflict when the id exists.
func (s *Store) Create(ctx context.Context, entity, id string, attrs backend.Attrs) (*backend.Record, error) {
	t, err := s.table(entity)
	if err != nil {
		return nil, err
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("postgres: create %s: record id %q is not a UUID in canonical form", entity, id)
	}
	attrs, err = backend.NormalizeAttrs(entity, attrs)
	if err != nil {
		return nil, fmt.Errorf("postgres: create %s %s: %w", entity, id, err)
	}
	sql, args, err := t.insert(id, attrs)
	if err != nil {
		return nil, fmt.Errorf("postgres: create %s %s: %w", entity, id, err)
	}
	r, err := t.scanOne(s.pool.QueryRow(ctx, sql, args...))
	if err != nil {
		return nil, s.fail(ctx, "create "+entity+" "+id, err)
	}
	return r, nil
}

// Get loads a record. It returns an error wrapping backend.ErrNotFound when there is none.
func (s *Store) Get(ctx context.Context, entity, id string) (*backend.Record, error) {
	t, err := s.table(entity)
	if err != nil {
		return nil, err
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("postgres: get %s %q: %w", entity, id, backend.ErrNotFound)
	}
	r, err := t.scanOne(s.pool.QueryRow(ctx, t.selectByID, id))
	if err != nil {
		return nil, s.fail(ctx, "get "+entity+" "+id, err)
	}
	return r, nil
}

// Update sets the given fields in one UPDATE ... RETURNING statement, so concurrent updates of other fields of
// the same record are never lost. It returns an error wrapping backend.ErrNotFound when there is no such record.
func (s *Store) Update(ctx context.Context, entity, id string, attrs backend.Attrs) (*backend.Record, error) {
	t, err := s.table(entity)
	if err != nil {
		return nil, err
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("postgres: update %s %q: %w", entity, id, backend.ErrNotFound)
	}
	attrs, err = backend.NormalizeAttrs(entity, attrs)
	if err != nil {
		return nil, fmt.Errorf("postgres: update %s %s: %w", entity, id, err)
	}
	if len(attrs) == 0 {
		return s.Get(ctx, entity, id)
	}
	sql, args, err := t.update(id, attrs)
	if err != nil {
		return nil, fmt.Errorf("postgres: update %s %s: %w", entity, id, err)
	}
	r, err := t.scanOne(s.pool.QueryRow(ctx, sql, args...))
	if err != nil {
		return nil, s.fail(ctx, "update "+entity+" "+id, err)
	}
	return r, nil
}

// CompareAndUpdate is Update with the condition "field IS NOT DISTINCT FROM expect" in the same statement:
// PostgreSQL re-checks the condition on the row it locks, so of several sessions swapping from the same value
// one updates the row. When no row matched, a Get tells a missing record from a changed one.
func (s *Store) CompareAndUpdate(ctx context.Context, entity, id, field string, expect any, attrs backend.Attrs) (*backend.Record, error) {
	t, err := s.table(entity)
	if err != nil {
		return nil, err
	}
	f, want, err := backend.CheckCompareAndUpdate(entity, field, expect, attrs)
	if err != nil {
		return nil, fmt.Errorf("postgres: compare-and-update %s %s: %w", entity, id, err)
	}
	if !backend.ValidID(id) {
		return nil, fmt.Errorf("postgres: compare-and-update %s %q: %w", entity, id, backend.ErrNotFound)
	}
	attrs, err = backend.NormalizeAttrs(entity, attrs)
	if err != nil {
		return nil, fmt.Errorf("postgres: compare-and-update %s %s: %w", entity, id, err)
	}
	stmt, args, err := t.update(id, attrs)
	if err != nil {
		return nil, fmt.Errorf("postgres: compare-and-update %s %s: %w", entity, id, err)
	}
	p, err := param(f, want)
	if err != nil {
		return nil, fmt.Errorf("postgres: compare-and-update %s %s: %w", entity, id, err)
	}
	args = append(args, p)
	cond := " AND " + quote(field) + " IS NOT DISTINCT FROM $" + strconv.Itoa(len(args)) + "::" + mustSQLType(f.Type)
	stmt = strings.Replace(stmt, " WHERE id = $1 RETURNING ", " WHERE id = $1"+cond+" RETURNING ", 1)
	r, err := t.scanOne(s.pool.QueryRow(ctx, stmt, args...))
	if err != nil {
		err = s.fail(ctx, "compare-and-update "+entity+" "+id, err)
		if errors.Is(err, backend.ErrNotFound) {
			if _, gerr := s.Get(ctx, entity, id); gerr == nil {
				return nil, fmt.Errorf("postgres: compare-and-update %s %s: %s is no longer %v: %w", entity, id, field, expect, backend.ErrStale)
			}
		}
		return nil, err
	}
	return r, nil
}

func mustSQLType(t backend.FieldType) string {
	s, err := sqlType(t)
	if err != nil {
		return "text"
	}
	return s
}

// Delete removes a record. A missing record is not an error.
func (s *Store) Delete(ctx context.Context, entity, id string) error {
	t, err := s.table(entity)
	if err != nil {
		return err
	}
	if !backend.ValidID(id) {
		return nil
	}
	if _, err := s.pool.Exec(ctx, t.deleteByID, id); err != nil {
		return s.fail(ctx, "delete "+entity+" "+id, err)
	}
	return nil
}

// Query runs q as one SELECT with its conditions, order and limit on the server.
func (s *Store) Query(ctx context.Context, q backend.Query) ([]*backend.Record, error) {
	t, sql, args, err := s.compile(q)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.fail(ctx, "query "+q.Entity, err)
	}
	out, err := t.scanAll(rows)
	if err != nil {
		return nil, s.fail(ctx, "query "+q.Entity, err)
	}
	return out, nil
}

// ExplainQuery returns the server's EXPLAIN of the statement that Query runs for q, one plan line per line.
func (s *Store) ExplainQuery(ctx context.Context, q backend.Query) (string, error) {
	_, sql, args, err := s.compile(q)
	if err != nil {
		return "", err
	}
	rows, err := s.pool.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		return "", s.fail(ctx, "explain "+q.Entity, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", s.fail(ctx, "explain "+q.Entity, err)
	}
	return strings.Join(lines, "\n"), nil
}

func (s *Store) compile(q backend.Query) (*table, string, []any, error) {
	if err := q.Validate(); err != nil {
		return nil, "", nil, fmt.Errorf("postgres: query: %w", err)
	}
	t, err := s.table(q.Entity)
	if err != nil {
		return nil, "", nil, err
	}
	sql, args, err := t.query(q)
	if err != nil {
		return nil, "", nil, fmt.Errorf("postgres: query %s: %w", q.Entity, err)
	}
	return t, sql, args, nil
}

func (s *Store) table(entity string) (*table, error) {
	t, ok := s.tables[entity]
	if !ok {
		return nil, fmt.Errorf("postgres: unknown entity %q", entity)
	}
	return t, nil
}

// fail builds the error of a failed operation: backend errors mapped (see classify), the context's error
// wrapped when it ended (a canceled statement reports the server's "canceling statement" error), and the
// connection password scrubbed from the message should the driver or the server ever quote it.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	err = classify(err)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return scrub(fmt.Errorf("postgres: %s: %w", op, err), s.password)
}

// checkSchemaName rejects names that PostgreSQL would truncate or cannot hold; everything else is quoted.
func checkSchemaName(name string) error {
	switch {
	case len(name) > 63:
		return fmt.Errorf("schema name %q is longer than PostgreSQL's 63 bytes", name)
	case strings.ContainsRune(name, 0):
		return errors.New("schema name contains a NUL byte")
	}
	return nil
}

// Exists reports whether a store was ever opened in cfg's schema (its schema_migrations table is there),
// creating and migrating nothing: a `terraform plan` that reads resources must never create a store, so the
// provider asks this before its first Open of a run that only reads.
func Exists(ctx context.Context, cfg Config) (bool, error) {
	if cfg.Schema == "" {
		cfg.Schema = DefaultSchema
	}
	if err := checkSchemaName(cfg.Schema); err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	ccfg, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		return false, scrub(fmt.Errorf("postgres: parse connection string: %w", err), passwordOf(cfg.URL))
	}
	conn, err := pgx.ConnectConfig(ctx, ccfg)
	if err != nil {
		return false, scrub(fmt.Errorf("postgres: connect: %w", classify(err)), ccfg.Password)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var exists bool
	err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = 'schema_migrations')`, cfg.Schema).Scan(&exists)
	if err != nil {
		return false, scrub(fmt.Errorf("postgres: look up schema %q: %w", cfg.Schema, classify(err)), ccfg.Password)
	}
	return exists, nil
}
