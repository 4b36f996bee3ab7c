package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// How the schema is kept up to date.
//
// Open runs everything below in one transaction that first takes pg_advisory_xact_lock on a key derived from
// the schema name, so two provider processes opening the same installation at once run it one after the other
// (the second finds nothing to do), and a failure leaves the schema as it was: PostgreSQL's DDL is
// transactional.
//
//  1. Create the schema when it does not exist, and the table schema_migrations (version, name, applied_at).
//  2. A fresh installation (no row in schema_migrations) is created from backend.Entities() as it is now and
//     every migration below is recorded as applied. An existing one runs, in order, the migrations newer than
//     its highest recorded version; a version newer than this code knows is an error (upgrade the provider).
//  3. Sync: create every missing table, add every missing column, give text columns the "C" collation and
//     create every missing index (by name), as backend.Entities() describes them. A field added to schema.go
//     therefore needs no migration. A column of the wrong type is an error: changing a type, renaming or
//     moving data needs a numbered migration.
//
// The sync reads the catalog once and writes nothing when the schema is current, so Open is cheap.

// migration is a numbered schema change for what the sync cannot derive from backend.Entities() (renames, type
// changes, data moves). Up runs inside the migration transaction, before the sync.
type migration struct {
	Version int64
	Name    string
	Up      func(ctx context.Context, tx pgx.Tx, schema string) error
}

// migrations is the history of the store's schema. Append only: never change or remove an applied one.
var migrations = []migration{
	// Version 1 is the first release: the record tables are made by the sync.
	{Version: 1, Name: "record tables: id uuid primary key, one column per field, a btree index per indexed field"},
}

// lockKey is the advisory lock key of a schema: the FNV-1a hash of the module path and the schema name.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("github.com/ekairos/terraform-provider-sandbox/postgres\x00" + schema))
	return int64(h.Sum64())
}

func (s *Store) migrate(ctx context.Context, steps []migration) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(s.schema)); err != nil {
			return fmt.Errorf("take advisory lock: %w", err)
		}
		return s.migrateLocked(ctx, tx, steps)
	})
}

func (s *Store) migrateLocked(ctx context.Context, tx pgx.Tx, steps []migration) error {
	// CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even when the schema exists, so
	// look first: a role that may only use an existing schema can still open the store.
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.schema).
		Scan(&exists); err != nil {
		return fmt.Errorf("look up schema: %w", err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+quote(s.schema), pgx.QueryExecModeExec); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	// CREATE TABLE IF NOT EXISTS, too, needs the CREATE privilege on the schema even when the table exists.
	mt := pgx.Identifier{s.schema, "schema_migrations"}.Sanitize()
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = 'schema_migrations')`, s.schema).Scan(&exists); err != nil {
		return fmt.Errorf("look up schema_migrations: %w", err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, "CREATE TABLE "+mt+` (
  version bigint PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`, pgx.QueryExecModeExec); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
	}
	var current int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+mt).Scan(&current); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	var latest int64
	if len(steps) > 0 {
		latest = steps[len(steps)-1].Version
	}
	if current > latest {
		return fmt.Errorf("the schema is at migration version %d but this provider knows versions up to %d: "+
			"upgrade terraform-provider-sandbox", current, latest)
	}
	for _, m := range steps {
		if m.Version <= current {
			continue
		}
		if current > 0 && m.Up != nil {
			if err := m.Up(ctx, tx, s.schema); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
			}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+mt+" (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
			return fmt.Errorf("record migration %d: %w", m.Version, err)
		}
	}
	return s.sync(ctx, tx)
}

// sync creates the missing tables, columns and indexes of backend.Entities().
func (s *Store) sync(ctx context.Context, tx pgx.Tx) error {
	type colKey struct{ table, column string }
	type colType struct{ typ, collation string }
	columns := map[colKey]colType{}
	tables := map[string]bool{}
	rows, err := tx.Query(ctx, `SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), coalesce(co.collname, '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`, s.schema)
	if err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	var tbl, col string
	var ct colType
	if _, err := pgx.ForEachRow(rows, []any{&tbl, &col, &ct.typ, &ct.collation}, func() error {
		tables[tbl] = true
		columns[colKey{tbl, col}] = ct
		return nil
	}); err != nil {
		return fmt.Errorf("read columns: %w", err)
	}
	indexes := map[string]bool{}
	rows, err = tx.Query(ctx, "SELECT indexname FROM pg_indexes WHERE schemaname = $1", s.schema)
	if err != nil {
		return fmt.Errorf("read indexes: %w", err)
	}
	var idx string
	if _, err := pgx.ForEachRow(rows, []any{&idx}, func() error {
		indexes[idx] = true
		return nil
	}); err != nil {
		return fmt.Errorf("read indexes: %w", err)
	}

	var stmts []string
	var problems []string
	for _, e := range backend.Entities() {
		t := s.tables[e.Name]
		if !tables[e.Name] {
			ddl, err := t.createDDL()
			if err != nil {
				return err
			}
			stmts = append(stmts, ddl...)
			continue
		}
		if c, ok := columns[colKey{e.Name, "id"}]; !ok || c.typ != "uuid" {
			problems = append(problems, fmt.Sprintf("%s.id is %q, want uuid", e.Name, c.typ))
		}
		for _, f := range e.Fields {
			want, err := sqlType(f.Type)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", e.Name, f.Name, err)
			}
			def, err := columnDef(f.Type)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", e.Name, f.Name, err)
			}
			got, ok := columns[colKey{e.Name, f.Name}]
			switch {
			case !ok:
				stmts = append(stmts, "ALTER TABLE "+t.ident+" ADD COLUMN "+quote(f.Name)+" "+def)
			case got.typ != want:
				problems = append(problems, fmt.Sprintf("%s.%s is %s, want %s", e.Name, f.Name, got.typ, want))
			case want == "text" && got.collation != textCollation:
				// Lossless; rebuilds the column's index.
				stmts = append(stmts, "ALTER TABLE "+t.ident+" ALTER COLUMN "+quote(f.Name)+" TYPE "+def)
			}
			if f.Indexed && !indexes[indexName(e.Name, f.Name)] {
				stmts = append(stmts, t.indexDDL(f.Name))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New("columns of the wrong type (a numbered migration must convert them): " +
			strings.Join(problems, "; "))
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt, pgx.QueryExecModeExec); err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
