package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb/instantdbfake"
)

const (
	benchAppID = "5f0c7a8e-2d3b-4c1a-9e8f-7b6a5c4d3e2f"
	benchToken = "0b9e4c1d-7a2f-4e3b-8c5d-6f7a8b9c0d1e"
	// benchRecords is how many sandbox records the fake holds; BENCH_INSTANT_RECORDS overrides it.
	benchRecords = 100_000
)

// The records are spread as the SQLite benchmark spreads them: status = active and provider = local match
// one record in 20.
var (
	benchStatuses  = []string{backend.StatusActive, backend.StatusShutdown, backend.StatusCreating, backend.StatusError}
	benchProviders = []string{"local", "daytona", "sprites", "vercel", "e2b"}
	benchWhere     = []backend.Cond{
		{Field: "status", Op: backend.OpEq, Value: backend.StatusActive},
		{Field: "provider", Op: backend.OpEq, Value: "local"},
	}
)

func recordCount() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("BENCH_INSTANT_RECORDS"), &n); err == nil && n > 0 {
		return n
	}
	return benchRecords
}

// adminPost sends one admin call to the fake as the store does (headers, app id) and returns the body.
func adminPost(tb testing.TB, client *http.Client, f *instantdbfake.Server, endpoint string, body any) []byte {
	tb.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, f.URL()+endpoint+"?app_id="+benchAppID, bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("App-Id", benchAppID)
	req.Header.Set("Authorization", "Bearer "+benchToken)
	req.Header.Set("Instant-Admin-Version", "bench")
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("%s: HTTP %d: %s", endpoint, resp.StatusCode, out)
	}
	return out
}

// seedFake writes n sandbox records into the fake in batched transactions (the load is not what is measured).
func seedFake(tb testing.TB, f *instantdbfake.Server, n int) {
	tb.Helper()
	const base = int64(1763000000000)
	const batch = 2000
	client := &http.Client{}
	for start := 0; start < n; start += batch {
		var steps []any
		for i := start; i < min(n, start+batch); i++ {
			steps = append(steps, []any{"create", backend.EntitySandboxes, backend.NewID(), map[string]any{
				"externalSandboxId": fmt.Sprintf("ext-%06d", i),
				"provider":          benchProviders[(i/len(benchStatuses))%len(benchProviders)],
				"status":            benchStatuses[i%len(benchStatuses)],
				"timeout":           300000,
				"runtime":           "node22",
				"ports":             []int{3000, 8080},
				"purpose":           "bench",
				"params":            map[string]any{"local": map[string]any{"dir": fmt.Sprintf("/tmp/sandbox-%d", i)}},
				"createdAt":         base + int64((i*7919)%n),
				"updatedAt":         base + int64((i*7919)%n) + 1000,
			}})
		}
		adminPost(tb, client, f, instantdbfake.EndpointTransact, map[string]any{"steps": steps, "throw-on-missing-attrs?": true})
	}
}

// BenchmarkInstantDBQuery100k compares the instantdb store's filtered query (what data.sandbox_records asks)
// with one bare admin query request carrying the same InstaQL, against the in-process fake holding 100,000
// sandbox records. Before timing it checks the paging: an unlimited query is fetched page by page, and every
// page request carries the where filter (never a whole-entity fetch); it logs a line
//
//	PAGING records=<matched> pagesize=<n> requests=<n> filtered=<with where>/<requests>
//
// that bench/bench.sh puts in the table.
func BenchmarkInstantDBQuery100k(b *testing.B) {
	if testing.Short() {
		b.Skip("loads 100,000 records")
	}
	n := recordCount()
	f := instantdbfake.New(benchAppID, benchToken)
	b.Cleanup(f.Close)
	seedFake(b, f, n)
	s, err := instantdb.New(instantdb.Config{AppID: benchAppID, AdminToken: benchToken, APIURL: f.URL()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	ctx := b.Context()

	// Paging: every matching record, page by page.
	f.ResetRequests()
	all, err := s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes, Where: benchWhere})
	if err != nil {
		b.Fatal(err)
	}
	reqs := f.Requests()
	filtered := 0
	for _, r := range reqs {
		var body struct {
			Query map[string]struct {
				Opts struct {
					Where map[string]any `json:"where"`
				} `json:"$"`
			} `json:"query"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			b.Fatal(err)
		}
		w := body.Query[backend.EntitySandboxes].Opts.Where
		if r.Endpoint == instantdbfake.EndpointQuery && w["status"] == backend.StatusActive && w["provider"] == "local" {
			filtered++
		}
	}
	if want := n / 20; len(all) != want {
		b.Fatalf("the unlimited query returned %d records; want %d", len(all), want)
	}
	if filtered != len(reqs) {
		b.Errorf("%d of %d page requests carried the where filter", filtered, len(reqs))
	}
	b.Logf("PAGING records=%d pagesize=%d requests=%d filtered=%d/%d", len(all), instantdb.DefaultPageSize, len(reqs), filtered, len(reqs))

	q := backend.Query{Entity: backend.EntitySandboxes, Where: benchWhere, OrderBy: "createdAt", Limit: 100}
	b.Run("store", func(b *testing.B) {
		for b.Loop() {
			recs, err := s.Query(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) != 100 {
				b.Fatalf("%d records", len(recs))
			}
		}
	})
	bare := map[string]any{"inference?": false, "query": map[string]any{backend.EntitySandboxes: map[string]any{
		"$": map[string]any{"where": map[string]any{"status": backend.StatusActive, "provider": "local"},
			"order": map[string]any{"createdAt": "asc"}, "limit": 100}}}}
	b.Run("bare_request", func(b *testing.B) {
		client := &http.Client{}
		for b.Loop() {
			var out map[string][]json.RawMessage
			body := adminPost(b, client, f, instantdbfake.EndpointQuery, bare)
			if err := json.Unmarshal(body, &out); err != nil {
				b.Fatal(err)
			}
			if len(out[backend.EntitySandboxes]) != 100 {
				b.Fatalf("bare request returned %d records", len(out[backend.EntitySandboxes]))
			}
		}
	})
}
