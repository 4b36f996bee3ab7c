package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// How the file's schema evolves.
//
// The schema of the file follows backend.Entities(). Open brings it up to date in one BEGIN IMMEDIATE
// transaction, so that when several processes open the same file at once one migrates and the others, waiting
// on the lock, find nothing left to do:
//
//  1. The numbered migrations below that the file has not had run in order, and each is recorded in
//     schema_migrations(version, applied_at) with the time it ran (epoch milliseconds).
//  2. Then syncSchema compares the file with backend.Entities() (PRAGMA table_info and the file's index list)
//     and adds what is missing: a table for a new entity, a column for a new field, an index for a field newly
//     marked Indexed.
//
// So adding an entity, a field or an index to backend's schema needs no change here: the next Open adds it to
// existing files, and old rows read the new field as unset. syncSchema only ever adds: it never drops, renames
// or retypes a column, so an older provider still works on a file a newer one has extended (it reads and
// writes only the columns it knows).
//
// A change that is not additive (renaming or retyping a field, backfilling values, dropping an index) gets a
// new numbered migration appended to migrations, with explicit SQL and a test that opens a file in the old
// shape. A migration must never be edited or renumbered once released. A file whose version is newer than the
// last migration this code knows (written by a newer provider) is used as it is and not changed.
//
// Before taking the write lock, Open checks read-only whether anything is to do, so that opening an up-to-date
// file never waits for another process's writes.

// migration is one numbered step of the file's schema history.
type migration struct {
	version int
	name    string
	up      func(ctx context.Context, tx *sql.Tx) error
}

// migrations is the file's schema history, in order. Append only.
var migrations = []migration{
	{
		version: 1,
		name:    "one table per entity of backend.Entities(), a column per field, an index per indexed field",
		up:      syncSchema,
	},
}

// latestVersion is the version of the last migration.
func latestVersion() int { return migrations[len(migrations)-1].version }

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL
)`

// querier is what reading the schema needs: *sql.DB or *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// migrate brings the file's schema up to date. db must be the writer, whose transactions are BEGIN IMMEDIATE.
func migrate(ctx context.Context, db *sql.DB) error {
	pending, err := needsMigration(ctx, db)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	if !pending {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := migrateTx(ctx, tx); err != nil {
		return errors.Join(fmt.Errorf("migrate: %w", err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// migrateTx runs the pending migrations and syncSchema in tx.
func migrateTx(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	current, err := currentVersion(ctx, tx)
	if err != nil {
		return err
	}
	if current > latestVersion() {
		return nil
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		if err := m.up(ctx, tx); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
			m.version, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("record migration %d: %w", m.version, err)
		}
	}
	return syncSchema(ctx, tx)
}

// needsMigration reports whether migrate has anything to do.
func needsMigration(ctx context.Context, q querier) (bool, error) {
	exists, err := tableExists(ctx, q, "schema_migrations")
	if err != nil || !exists {
		return true, err
	}
	current, err := currentVersion(ctx, q)
	if err != nil {
		return false, err
	}
	switch {
	case current > latestVersion():
		return false, nil
	case current < latestVersion():
		return true, nil
	}
	stmts, err := schemaChanges(ctx, q)
	return len(stmts) > 0, err
}

// currentVersion returns the highest migration version recorded in the file, 0 for none.
func currentVersion(ctx context.Context, q querier) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	return v, nil
}

// syncSchema adds the tables, columns and indexes of backend.Entities() that the file lacks.
func syncSchema(ctx context.Context, tx *sql.Tx) error {
	stmts, err := schemaChanges(ctx, tx)
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// schemaChanges returns the statements that add to the file what backend.Entities() has and the file lacks.
func schemaChanges(ctx context.Context, q querier) ([]string, error) {
	var out []string
	for _, e := range backend.Entities() {
		cols, err := names(ctx, q, "SELECT name FROM pragma_table_info(?)", e.Name)
		if err != nil {
			return nil, fmt.Errorf("columns of %s: %w", e.Name, err)
		}
		if len(cols) == 0 {
			stmt, err := createTable(e)
			if err != nil {
				return nil, err
			}
			out = append(out, stmt)
		} else {
			for _, f := range e.Fields {
				if cols[f.Name] {
					continue
				}
				typ, err := columnType(f.Type)
				if err != nil {
					return nil, fmt.Errorf("%s.%s: %w", e.Name, f.Name, err)
				}
				out = append(out, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", quote(e.Name), quote(f.Name), typ))
			}
		}
		indexes, err := names(ctx, q, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", e.Name)
		if err != nil {
			return nil, fmt.Errorf("indexes of %s: %w", e.Name, err)
		}
		for _, f := range e.Fields {
			if f.Indexed && !indexes[indexName(e.Name, f.Name)] {
				cols := make([]string, 0, 3)
				for _, c := range indexColumns(e, f.Name) {
					cols = append(cols, quote(c))
				}
				out = append(out, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)",
					quote(indexName(e.Name, f.Name)), quote(e.Name), strings.Join(cols, ", ")))
			}
		}
	}
	return out, nil
}

// createTable returns the CREATE TABLE statement of an entity.
func createTable(e backend.EntitySchema) (string, error) {
	cols := []string{quote("id") + " TEXT PRIMARY KEY NOT NULL"}
	for _, f := range e.Fields {
		typ, err := columnType(f.Type)
		if err != nil {
			return "", fmt.Errorf("%s.%s: %w", e.Name, f.Name, err)
		}
		cols = append(cols, quote(f.Name)+" "+typ)
	}
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n\t%s\n)", quote(e.Name), strings.Join(cols, ",\n\t")), nil
}

// tableExists reports whether the file has the named table.
func tableExists(ctx context.Context, q querier, name string) (bool, error) {
	tables, err := names(ctx, q, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", name)
	return tables[name], err
}

// names runs a query returning one text column and returns its values as a set.
func names(ctx context.Context, q querier, query string, args ...any) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, errors.Join(err, rows.Close())
		}
		out[n] = true
	}
	if err := rows.Err(); err != nil {
		return nil, errors.Join(err, rows.Close())
	}
	return out, rows.Close()
}
