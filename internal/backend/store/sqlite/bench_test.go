package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// benchStatuses and benchProviders spread the benchmark's records: status=active AND provider=local matches
// one record in 20.
var (
	benchStatuses  = []string{backend.StatusActive, backend.StatusShutdown, backend.StatusCreating, backend.StatusError}
	benchProviders = []string{"local", "daytona", "sprites", "vercel", "e2b"}
)

// seedSandboxes inserts n sandbox records in one transaction, with the columns a real record has.
func seedSandboxes(ctx context.Context, tb testing.TB, s *Store, n int) {
	tb.Helper()
	const base = int64(1763000000000)
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() {
		// A no-op after Commit; after a failure it undoes the batch.
		_ = tx.Rollback() // after Commit it only returns sql.ErrTxDone
	}()
	// A page cache large enough for the whole file keeps the batch in memory until the commit.
	if _, err := tx.ExecContext(ctx, "PRAGMA cache_size = -262144"); err != nil {
		tb.Fatal(err)
	}
	// Inserting into 14 indexes row by row is slow; building them once after the insert is a sort. The
	// indexes are dropped and re-created from the SQL that created them, so they are the store's own.
	var indexes []string
	rows, err := tx.QueryContext(ctx, `SELECT sql FROM sqlite_master
		WHERE type = 'index' AND tbl_name = 'sandbox_sandboxes' AND sql IS NOT NULL`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var stmt string
		if err := rows.Scan(&stmt); err != nil {
			tb.Fatal(err)
		}
		indexes = append(indexes, stmt)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		tb.Fatal(err)
	}
	for _, stmt := range indexes {
		name := strings.Fields(stmt)[2] // CREATE INDEX name ON ...
		if _, err := tx.ExecContext(ctx, "DROP INDEX "+name); err != nil {
			tb.Fatal(err)
		}
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO sandbox_sandboxes
		(id, externalSandboxId, provider, sandboxUrl, status, timeout, runtime, vcpus, ports, purpose, params, createdAt, updatedAt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		// createdAt is spread over the records independently of status and provider (i*7919 mod n is a
		// permutation when n is not a multiple of 7919).
		created := base + int64((i*7919)%n)
		if _, err := stmt.ExecContext(ctx,
			backend.NewID(),
			fmt.Sprintf("ext-%06d", i),
			benchProviders[(i/len(benchStatuses))%len(benchProviders)],
			fmt.Sprintf("http://127.0.0.1:%d", 10000+i%50000),
			benchStatuses[i%len(benchStatuses)],
			300000,
			"node22",
			2,
			"[3000,8080]",
			"bench",
			fmt.Sprintf(`{"local":{"dir":"/tmp/sandbox-%d","pid":%d}}`, i, 1000+i),
			created,
			created+1000,
		); err != nil {
			tb.Fatal(err)
		}
	}
	if err := stmt.Close(); err != nil {
		tb.Fatal(err)
	}
	for _, stmt := range indexes {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// benchQuery is the query BenchmarkQuery100k measures: what the provider asks when it lists a provider's
// active sandboxes.
var benchQuery = backend.Query{
	Entity: backend.EntitySandboxes,
	Where: []backend.Cond{
		{Field: "status", Op: backend.OpEq, Value: backend.StatusActive},
		{Field: "provider", Op: backend.OpEq, Value: "local"},
	},
	OrderBy: "createdAt",
	Limit:   100,
}

// bareSelect is the same query as benchQuery written by hand, returning ids only.
const bareSelect = `SELECT id FROM sandbox_sandboxes WHERE status = ? AND provider = ? ORDER BY createdAt LIMIT 100`

// BenchmarkQuery100k compares Store.Query with a bare indexed SELECT on the same connections, over 100,000
// sandbox records. The insert is not timed.
func BenchmarkQuery100k(b *testing.B) {
	if testing.Short() {
		b.Skip("inserts 100,000 records")
	}
	ctx := b.Context()
	s := openTemp(b)
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	seedSandboxes(ctx, b, s, 100_000)
	plan, err := s.ExplainQuery(ctx, benchQuery)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("EXPLAIN QUERY PLAN of Store.Query:\n%s", plan)

	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			recs, err := s.Query(ctx, benchQuery)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) != 100 {
				b.Fatalf("Query returned %d records; want 100", len(recs))
			}
		}
	})
	b.Run("bare_select", func(b *testing.B) {
		for b.Loop() {
			rows, err := s.reader.QueryContext(ctx, bareSelect, backend.StatusActive, "local")
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			if err := rows.Close(); err != nil {
				b.Fatal(err)
			}
			if n != 100 {
				b.Fatalf("bare select returned %d rows; want 100", n)
			}
		}
	})
}
