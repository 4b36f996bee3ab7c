package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"syscall"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// createLikeTheLifecycle writes a sandbox record as a create does: the creating record, then its update to
// active, then a read.
func createLikeTheLifecycle(ctx context.Context, tb testing.TB, s *Store, i int) {
	tb.Helper()
	id := backend.NewID()
	now := int64(1763000000000 + i)
	params := map[string]any{"local": map[string]any{}, "terraform": map[string]any{"configHash": "h", "scope": "/bench#default"}}
	if _, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"provider": "local", "status": backend.StatusCreating,
		"purpose": "bench", "timeout": 300000, "ports": []any{}, "params": params, "createdAt": now, "updatedAt": now}); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Update(ctx, backend.EntitySandboxes, id, backend.Attrs{"status": backend.StatusActive,
		"externalSandboxId": "sbx-" + id[:8], "sandboxUrl": nil, "params": params, "updatedAt": now + 1}); err != nil {
		tb.Fatal(err)
	}
	if _, err := s.Get(ctx, backend.EntitySandboxes, id); err != nil {
		tb.Fatal(err)
	}
}

// The store's statements are prepared once: a hundred creates leave one statement per shape in the caches,
// and every later create, update and read reuses them.
func TestStatementsPreparedOnce(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	for i := 0; i < 100; i++ {
		createLikeTheLifecycle(ctx, t, s, i)
	}
	shapes := func(c *stmtCache) []string {
		c.mu.Lock()
		defer c.mu.Unlock()
		var out []string
		for q := range c.m {
			out = append(out, q)
		}
		sort.Strings(out)
		return out
	}
	if w, r := shapes(&s.writes), shapes(&s.reads); len(w) != 2 || len(r) != 1 {
		t.Fatalf("100 creates left %d write statements and %d read statements, want 2 (insert, update) and 1 (get):\n%q\n%q", len(w), len(r), w, r)
	}
}

// Past the bound, statements run unprepared and still work; a statement that cannot be prepared reports the
// same error as before (no cache entry, no panic).
func TestStatementCacheBound(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	id := backend.NewID()
	if _, err := s.Create(ctx, backend.EntitySandboxes, id, backend.Attrs{"provider": "local", "status": backend.StatusActive}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < maxCachedStmts+20; i++ {
		recs, err := s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{
			{Field: "status", Op: backend.OpEq, Value: backend.StatusActive}}, OrderBy: "createdAt",
			Limit: 1 + i%3})
		if err != nil || len(recs) != 1 {
			t.Fatalf("query %d: %v, %d records", i, err, len(recs))
		}
		// A new shape each time: past the bound it runs unprepared.
		row := s.queryRow(ctx, false, fmt.Sprintf("SELECT id FROM sandbox_sandboxes WHERE id = ? AND %d = %d", i, i), id)
		var got string
		if err := row.Scan(&got); err != nil || got != id {
			t.Fatalf("shape %d: %v %q", i, err, got)
		}
	}
	if n := len(s.reads.m); n != maxCachedStmts {
		t.Fatalf("read cache holds %d statements, want the bound %d", n, maxCachedStmts)
	}
	var x string
	err := s.queryRow(ctx, false, "SELECT nope FROM sandbox_sandboxes").Scan(&x)
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("a bad statement gave %v", err)
	}
}

// BenchmarkRecordCreate: the store's writes of one create (insert, update, read back), with each statement
// parsed again (the store before the cache) and prepared once.
func BenchmarkRecordCreate(b *testing.B) {
	for _, mode := range []string{"unprepared", "prepared"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			s := openTemp(b)
			defer s.Close()
			s.writes.off, s.reads.off = mode == "unprepared", mode == "unprepared"
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				createLikeTheLifecycle(ctx, b, s, i)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user and system CPU time so far, in ns: on a shared machine the CPU a create costs
// moves less with the load than its wall time.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
