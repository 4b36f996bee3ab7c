package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres/pgtest"
)

// checkServerError checks that err carries the server's own error (message and SQLSTATE) and no password.
func checkServerError(t *testing.T, err error, code, message string, passwords ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil; want SQLSTATE %s %q", code, message)
	}
	t.Logf("error: %v", err)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Errorf("err = %v; want a *pgconn.PgError with SQLSTATE %s", err, code)
	}
	if !strings.Contains(err.Error(), message) || !strings.Contains(err.Error(), "SQLSTATE "+code) {
		t.Errorf("err = %q; want the server's message %q and its SQLSTATE %s", err, message, code)
	}
	checkNoPassword(t, err, passwords...)
}

func checkNoPassword(t *testing.T, err error, passwords ...string) {
	t.Helper()
	for _, p := range passwords {
		if p != "" && strings.Contains(err.Error(), p) {
			t.Errorf("error message contains the password %q: %v", p, err)
		}
	}
}

func TestServerErrors(t *testing.T) {
	srv := pgtest.StartShared(t)
	db, dsn := srv.NewDatabase(t)
	ctx := t.Context()

	t.Run("reserved schema name", func(t *testing.T) {
		_, err := Open(ctx, Config{URL: dsn, Schema: "pg_records"})
		checkServerError(t, err, "42939", `unacceptable schema name "pg_records"`, srv.Password())
		if !strings.Contains(err.Error(), `The prefix "pg_" is reserved for system schemas`) {
			t.Errorf("err = %v; want the server's detail too", err)
		}
	})

	// A role that may connect but create nothing, logging in with a password.
	role, password := fmt.Sprintf("limited_%d", schemaSeq.Add(1)), "Lim1ted-pässword-"+backend.NewID()
	admin := adminPool(t, dsn)
	mustExec(t, admin, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", role, password))
	t.Cleanup(func() {
		mustExec(t, admin, "DROP OWNED BY "+role)
		if err := srv.Exec(context.Background(), "DROP ROLE "+role); err != nil {
			t.Errorf("drop role: %v", err)
		}
	})
	limited := srv.ConnString(role, password, db)

	t.Run("permission denied for database", func(t *testing.T) {
		_, err := Open(ctx, Config{URL: limited, Schema: "records"})
		checkServerError(t, err, "42501", "permission denied for database "+db, password, srv.Password())
	})
	t.Run("permission denied for schema", func(t *testing.T) {
		_, err := Open(ctx, Config{URL: limited}) // public: since PostgreSQL 15, only its owner may create in it
		checkServerError(t, err, "42501", "permission denied for schema public", password, srv.Password())
	})
	t.Run("permission denied on a table", func(t *testing.T) {
		// Installed by the superuser, used by the limited role, which may use the schema but not the tables.
		schema := newSchemaName("granted")
		openStore(t, Config{URL: dsn, Schema: schema})
		mustExec(t, admin, fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", quote(schema), role))
		mustExec(t, admin, fmt.Sprintf("GRANT SELECT ON %s.schema_migrations TO %s", quote(schema), role))
		s, err := Open(ctx, Config{URL: limited, Schema: schema})
		if err != nil {
			t.Fatalf("Open by a role that may read the schema: %v", err)
		}
		defer s.Close() //nolint:errcheck // Close never fails
		_, err = s.Create(ctx, backend.EntitySandboxes, backend.NewID(), backend.Attrs{"status": "active"})
		checkServerError(t, err, "42501", "permission denied for table sandbox_sandboxes", password, srv.Password())
	})
	t.Run("wrong password", func(t *testing.T) {
		wrong := "Wr0ng-" + password
		_, err := Open(ctx, Config{URL: srv.ConnString(role, wrong, db)})
		if err == nil || !strings.Contains(err.Error(), "password authentication failed for user") {
			t.Errorf("err = %v; want the server's password authentication failure", err)
		}
		checkNoPassword(t, err, wrong, password, srv.Password())
	})
	t.Run("unparsable connection strings", func(t *testing.T) {
		for _, url := range []string{
			"postgres://me:" + password + "@localhost:notaport/db",
			"postgres://me:" + password + "@[::1/db",
			"host=localhost password='" + password + "' port=notaport",
			"host=localhost password=" + password + " sslmode=bogus",
		} {
			_, err := Open(ctx, Config{URL: url})
			if err == nil {
				t.Errorf("Open(%q) succeeded", url)
				continue
			}
			t.Logf("error: %v", err)
			checkNoPassword(t, err, password)
		}
	})
}

func TestContextDeadline(t *testing.T) {
	dsn := sharedDB(t)
	schema := newSchemaName("deadline")
	s := openStore(t, Config{URL: dsn, Schema: schema})
	ctx := t.Context()
	id := backend.NewID()
	if _, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"status": "active"}); err != nil {
		t.Fatal(err)
	}
	admin := adminPool(t, dsn)

	t.Run("update waiting on a row lock", func(t *testing.T) {
		tx, err := admin.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // rolled back below
		if _, err := tx.Exec(ctx, fmt.Sprintf("SELECT 1 FROM %s.sandbox_sandboxes WHERE id = $1 FOR UPDATE", quote(schema)), id); err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = s.Update(dctx, backend.EntitySandboxes, id, backend.Attrs{"status": "shutdown"})
		elapsed := time.Since(start)
		t.Logf("after %v: %v", elapsed.Round(time.Millisecond), err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Update past its deadline: err = %v; want one wrapping context.DeadlineExceeded", err)
		}
		if elapsed > 5*time.Second {
			t.Errorf("Update returned %v after its 300ms deadline", elapsed)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := s.Update(ctx, backend.EntitySandboxes, id, backend.Attrs{"purpose": "after"})
		if err != nil {
			t.Fatalf("Update after the lock is gone: %v", err)
		}
		if r.String("status") != "active" {
			t.Errorf("status = %q; the timed-out Update must not have applied", r.String("status"))
		}
	})

	t.Run("open waiting on the migration lock", func(t *testing.T) {
		tx, err := admin.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // rolled back below
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(schema)); err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err = Open(dctx, Config{URL: dsn, Schema: schema})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open while another process migrates, past its deadline: err = %v; want context.DeadlineExceeded", err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		openStore(t, Config{URL: dsn, Schema: schema})
	})

	t.Run("expired before the call", func(t *testing.T) {
		dctx, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
		defer cancel()
		if _, err := Open(dctx, Config{URL: dsn, Schema: schema}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open: err = %v; want context.DeadlineExceeded", err)
		}
		if _, err := s.Query(dctx, backend.Query{Entity: backend.EntitySandboxes}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Query: err = %v; want context.DeadlineExceeded", err)
		}
	})
}
