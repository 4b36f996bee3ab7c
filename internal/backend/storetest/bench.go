package storetest

import (
	"fmt"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Benchmark measures the basic operations of the store that open returns, so that implementations can be
// compared on the same work: Create, Get, Update, and a filtered, ordered, limited Query over 1,000 sandbox
// records. open must return a new, empty store; Benchmark closes it.
//
// Use it from the implementation's tests:
//
//	func BenchmarkStore(b *testing.B) {
//		storetest.Benchmark(b, func(b *testing.B) backend.Store { ... })
//	}
func Benchmark(b *testing.B, open func(b *testing.B) backend.Store) {
	b.Helper()
	store := func(b *testing.B) backend.Store {
		b.Helper()
		st := open(b)
		if st == nil {
			b.Fatal("open returned a nil Store")
		}
		b.Cleanup(func() {
			if err := st.Close(); err != nil {
				b.Errorf("Close: %v", err)
			}
		})
		return st
	}
	attrs := func(i int) backend.Attrs {
		return backend.Attrs{
			"externalSandboxId": fmt.Sprintf("bench-%d", i),
			"provider":          []string{"local", "daytona", "sprites", "vercel", "e2b"}[i%5],
			"status":            []string{backend.StatusActive, backend.StatusShutdown, backend.StatusCreating, backend.StatusError}[i%4],
			"ports":             []any{3000, 8080},
			"params":            map[string]any{"local": map[string]any{"dir": "/tmp/bench", "i": i}},
			"createdAt":         int64(1763000000000 + i),
			"updatedAt":         int64(1763000000000 + i),
		}
	}
	seed := func(b *testing.B, st backend.Store, n int) []string {
		b.Helper()
		ids := make([]string, n)
		for i := range n {
			ids[i] = backend.NewID()
			if _, err := st.Create(b.Context(), backend.EntitySandboxes, ids[i], attrs(i)); err != nil {
				b.Fatalf("Create: %v", err)
			}
		}
		return ids
	}

	b.Run("Create", func(b *testing.B) {
		st := store(b)
		i := 0
		for b.Loop() {
			if _, err := st.Create(b.Context(), backend.EntitySandboxes, backend.NewID(), attrs(i)); err != nil {
				b.Fatalf("Create: %v", err)
			}
			i++
		}
	})
	b.Run("Get", func(b *testing.B) {
		st := store(b)
		ids := seed(b, st, 100)
		i := 0
		for b.Loop() {
			if _, err := st.Get(b.Context(), backend.EntitySandboxes, ids[i%len(ids)]); err != nil {
				b.Fatalf("Get: %v", err)
			}
			i++
		}
	})
	b.Run("Update", func(b *testing.B) {
		st := store(b)
		ids := seed(b, st, 100)
		i := 0
		for b.Loop() {
			if _, err := st.Update(b.Context(), backend.EntitySandboxes, ids[i%len(ids)], backend.Attrs{"updatedAt": int64(i)}); err != nil {
				b.Fatalf("Update: %v", err)
			}
			i++
		}
	})
	b.Run("Query", func(b *testing.B) {
		st := store(b)
		seed(b, st, 1000)
		q := backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{
			{Field: "status", Op: backend.OpEq, Value: backend.StatusActive},
			{Field: "provider", Op: backend.OpEq, Value: "local"},
		}, OrderBy: "createdAt", Limit: 20}
		for b.Loop() {
			recs, err := st.Query(b.Context(), q)
			if err != nil {
				b.Fatalf("Query: %v", err)
			}
			if len(recs) != 20 {
				b.Fatalf("Query returned %d records; want 20", len(recs))
			}
		}
	})
}
