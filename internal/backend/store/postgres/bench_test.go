package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/storetest"
)

const (
	bigN     = 100_000
	bigBase  = int64(1763000000000)
	bigLimit = 100
)

var bigProviders = []string{"local", "daytona", "vercel", "sprites"}

// bigStatus spreads statuses as a store that keeps history would: most records shut down, 10% active.
func bigStatus(i int) string {
	switch i % 20 {
	case 0, 1:
		return backend.StatusActive
	case 2:
		return backend.StatusError
	case 3:
		return backend.StatusCreating
	}
	return backend.StatusShutdown
}

func bigProvider(i int) string { return bigProviders[(i/20)%len(bigProviders)] }

// bigQuery is the query under test: active daytona sandboxes, oldest first, 100 of them (2,500 match).
var bigQuery = backend.Query{
	Entity: backend.EntitySandboxes,
	Where: []backend.Cond{
		{Field: "status", Op: backend.OpEq, Value: backend.StatusActive},
		{Field: "provider", Op: backend.OpEq, Value: "daytona"},
	},
	OrderBy: "createdAt",
	Limit:   bigLimit,
}

// loadBig opens a store in a fresh schema and writes bigN sandbox records into it, generated on the server in one INSERT (as
// bigStatus and bigProvider spread them), then ANALYZEs the table. The indexes are dropped for the load and
// made again by Open, which creates missing indexes: building an index once is much faster than updating it
// 100,000 times.
func loadBig(tb testing.TB) *Store {
	tb.Helper()
	cfg := Config{URL: sharedDB(tb), Schema: newSchemaName("big")}
	s := openStore(tb, cfg)
	ctx := context.Background()
	start := time.Now()
	table := pgx.Identifier{s.Schema(), backend.EntitySandboxes}.Sanitize()
	for _, f := range mustEntity(tb, backend.EntitySandboxes).Fields {
		if f.Indexed {
			idx := pgx.Identifier{s.Schema(), indexName(backend.EntitySandboxes, f.Name)}.Sanitize()
			if _, err := s.pool.Exec(ctx, "DROP INDEX "+idx); err != nil {
				tb.Fatal(err)
			}
		}
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO `+table+`
  (id, "externalSandboxId", provider, status, purpose, params, ports, "createdAt", "updatedAt")
SELECT gen_random_uuid(), 'ext-' || i, ($1::text[])[(i / 20) % 4 + 1],
  CASE WHEN i % 20 < 2 THEN 'active' WHEN i % 20 = 2 THEN 'error' WHEN i % 20 = 3 THEN 'creating' ELSE 'shutdown' END,
  'bench', jsonb_build_object('bench', jsonb_build_object('i', i)), '[3000]', $2::bigint + i * 1000, $2::bigint + i * 1000
FROM generate_series(0, $3 - 1) AS i`, bigProviders, bigBase, bigN)
	if err != nil || tag.RowsAffected() != bigN {
		tb.Fatalf("load: %v rows, %v", tag.RowsAffected(), err)
	}
	again, err := Open(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := again.Close(); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE "+table); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("loaded and analyzed %d records in %v", bigN, time.Since(start).Round(time.Millisecond))
	return s
}

// TestExplainUsesIndex checks on 100,000 records that the server answers the typical filtered query from an
// index, and that the answer is right.
func TestExplainUsesIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100,000 records")
	}
	s := loadBig(t)
	plan, err := s.ExplainQuery(t.Context(), bigQuery)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("EXPLAIN of the query on %d records:\n%s", bigN, plan)
	if !strings.Contains(plan, "Index Scan") || strings.Contains(plan, "Seq Scan") {
		t.Errorf("the plan reads no index (want Index Scan or Bitmap Index Scan, no Seq Scan):\n%s", plan)
	}

	recs, err := s.Query(t.Context(), bigQuery)
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for i := 0; i < bigN && len(want) < bigLimit; i++ {
		if bigStatus(i) == backend.StatusActive && bigProvider(i) == "daytona" {
			want = append(want, bigBase+int64(i)*1000)
		}
	}
	if len(recs) != len(want) {
		t.Fatalf("Query returned %d records; want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if c, _ := r.Int("createdAt"); c != want[i] || r.String("status") != backend.StatusActive || r.String("provider") != "daytona" {
			t.Fatalf("record %d = %v; want an active daytona sandbox created at %d", i, r.Attrs, want[i])
		}
	}
}

// BenchmarkQuery100k compares the store's query with the equivalent bare SELECT through the same pool, on
// 100,000 records: the difference is what the store adds (building the statement, decoding into Attrs).
func BenchmarkQuery100k(b *testing.B) {
	if testing.Short() {
		b.Skip("loads 100,000 records")
	}
	s := loadBig(b)
	ctx := context.Background()

	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			recs, err := s.Query(ctx, bigQuery)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) != bigLimit {
				b.Fatalf("%d records", len(recs))
			}
		}
	})

	b.Run("bare_select", func(b *testing.B) {
		sql := `SELECT id, "externalSandboxId", provider, "sandboxUrl", status, timeout, runtime, vcpus, ports,
  purpose, params, "createdAt", "updatedAt", "shutdownAt"
FROM ` + pgx.Identifier{s.Schema(), backend.EntitySandboxes}.Sanitize() + `
WHERE status = $1 AND provider = $2 ORDER BY "createdAt" NULLS FIRST, id LIMIT 100`
		var (
			id                                               string
			ext, provider, url, status, runtime, purpose     pgtype.Text
			timeout, vcpus, createdAt, updatedAt, shutdownAt pgtype.Numeric
			ports, params                                    []byte
		)
		dest := []any{&id, &ext, &provider, &url, &status, &timeout, &runtime, &vcpus, &ports, &purpose, &params,
			&createdAt, &updatedAt, &shutdownAt}
		for b.Loop() {
			rows, err := s.pool.Query(ctx, sql, backend.StatusActive, "daytona")
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					b.Fatal(err)
				}
				n++
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
			if n != bigLimit {
				b.Fatalf("%d rows", n)
			}
		}
	})
}

// BenchmarkStore runs the shared store benchmarks, each on a fresh schema.
func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) backend.Store {
		s, err := Open(b.Context(), Config{URL: sharedDB(b), Schema: newSchemaName("bench")})
		if err != nil {
			b.Fatal(err)
		}
		return s // the suite closes it
	})
}
