package instantdb

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb/instantdbfake"
)

// decodeBody decodes a logged request body.
func decodeBody(t *testing.T, r instantdbfake.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("request body %s: %v", r.Body, err)
	}
	return m
}

// jsonOf re-encodes v canonically (sorted keys) for comparisons.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWire pins the exact requests each Store method sends.
func TestWire(t *testing.T) {
	f := startFake(t)
	s := openStore(t, f, nil)
	ctx := t.Context()
	id := "5f0c7a8e-2d3b-4c1a-9e8f-7b6a5c4d3e2f"
	sb := backend.EntitySandboxes
	getBody := fmt.Sprintf(`{"inference?":false,"query":{"sandbox_sandboxes":{"$":{"where":{"id":%q}}}}}`, id)

	steps := []struct {
		name string
		run  func() error
		want []string // endpoint + " " + canonical body, one per request
	}{
		{"Create", func() error {
			_, err := s.Create(ctx, sb, id, backend.Attrs{"provider": "local", "status": "creating", "createdAt": 1763912345678, "sandboxUrl": nil, "ports": []int{3000}})
			return err
		}, []string{
			instantdbfake.EndpointTransact + ` {"steps":[["create","sandbox_sandboxes","` + id + `",{"createdAt":1763912345678,"ports":[3000],"provider":"local","status":"creating"}]],"throw-on-missing-attrs?":true}`,
		}},
		{"Update", func() error {
			_, err := s.Update(ctx, sb, id, backend.Attrs{"status": "active", "vcpus": 1.5, "ports": nil})
			return err
		}, []string{
			instantdbfake.EndpointQuery + " " + getBody,
			instantdbfake.EndpointTransact + ` {"steps":[["update","sandbox_sandboxes","` + id + `",{"ports":null,"status":"active","vcpus":1.5},{"upsert":false}]],"throw-on-missing-attrs?":true}`,
			instantdbfake.EndpointQuery + " " + getBody,
		}},
		{"Get", func() error {
			_, err := s.Get(ctx, sb, id)
			return err
		}, []string{instantdbfake.EndpointQuery + " " + getBody}},
		{"Query", func() error {
			_, err := s.Query(ctx, backend.Query{Entity: sb, Where: []backend.Cond{
				{Field: "status", Op: backend.OpEq, Value: "active"},
				{Field: "createdAt", Op: backend.OpGt, Value: 5},
				{Field: "shutdownAt", Op: backend.OpEq, Value: nil},
			}, OrderBy: "updatedAt", Desc: true, Limit: 10})
			return err
		}, []string{
			instantdbfake.EndpointQuery + ` {"inference?":false,"query":{"sandbox_sandboxes":{"$":{"limit":10,"order":{"updatedAt":"desc"},"where":{"createdAt":{"$gt":5},"shutdownAt":{"$isNull":true},"status":"active"}}}}}`,
		}},
		{"Query range on one field", func() error {
			_, err := s.Query(ctx, backend.Query{Entity: sb, Where: []backend.Cond{
				{Field: "createdAt", Op: backend.OpGt, Value: 1},
				{Field: "createdAt", Op: backend.OpLt, Value: 9.5},
				{Field: "provider", Op: backend.OpEq, Value: "local"},
			}})
			return err
		}, []string{
			instantdbfake.EndpointQuery + ` {"inference?":false,"query":{"sandbox_sandboxes":{"$":{"limit":500,"order":{"createdAt":"asc"},"where":{"and":[{"createdAt":{"$gt":1}},{"createdAt":{"$lt":9.5}}],"provider":"local"}}}}}`,
		}},
		{"Delete", func() error { return s.Delete(ctx, sb, id) }, []string{
			instantdbfake.EndpointTransact + ` {"steps":[["delete","sandbox_sandboxes","` + id + `"]],"throw-on-missing-attrs?":true}`,
		}},
	}
	for _, st := range steps {
		f.ResetRequests()
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		reqs := f.Requests()
		var got []string
		for _, r := range reqs {
			got = append(got, r.Endpoint+" "+jsonOf(t, decodeBody(t, r)))
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("App-Id") != testAppID ||
				r.Header.Get("Authorization") != "Bearer "+testToken || r.Header.Get("Instant-Admin-Version") == "" {
				t.Errorf("%s: headers %v", st.name, r.Header)
			}
			if q, err := url.ParseQuery(r.Query); err != nil || q.Get("app_id") != testAppID {
				t.Errorf("%s: query string %q; want app_id=%s", st.name, r.Query, testAppID)
			}
		}
		if !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s sent\n%v\nwant\n%v", st.name, got, st.want)
		}
	}
}

// TestPaging: a query matching more records than a page is fetched page by page, every page filtered on
// the server, never a whole-entity fetch.
func TestPaging(t *testing.T) {
	f := startFake(t)
	s := openStore(t, f, func(c *Config) { c.PageSize = 50 })
	ctx := t.Context()
	const active, other = 230, 40
	for i := range active + other {
		status := backend.StatusActive
		if i >= active {
			status = backend.StatusShutdown
		}
		if _, err := s.Create(ctx, backend.EntitySandboxes, backend.NewID(), backend.Attrs{
			"provider": "local", "status": status, "createdAt": int64(1000 + (i*7919)%(active+other)),
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		limit     int
		wantCount int
		wantSizes []float64
	}{
		{"no limit", 0, active, []float64{50, 50, 50, 50, 50}},
		{"limit 120", 120, 120, []float64{50, 50, 20}},
		{"limit 100", 100, 100, []float64{50, 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.ResetRequests()
			recs, err := s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes,
				Where: []backend.Cond{{Field: "status", Op: backend.OpEq, Value: backend.StatusActive}}, Limit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tc.wantCount {
				t.Errorf("%d records; want %d", len(recs), tc.wantCount)
			}
			var last int64 = -1
			for _, r := range recs {
				if r.String("status") != backend.StatusActive {
					t.Errorf("record %s has status %q", r.ID, r.String("status"))
				}
				n, _ := r.Int("createdAt")
				if n < last {
					t.Errorf("createdAt %d after %d: not in order", n, last)
				}
				last = n
			}
			reqs := f.Requests()
			if n := f.Count(instantdbfake.EndpointQuery); n != len(tc.wantSizes) || len(reqs) != n {
				t.Fatalf("%d query requests (%d logged); want %d pages", n, len(reqs), len(tc.wantSizes))
			}
			offset := 0.0
			for i, r := range reqs {
				opts := pageOptions(t, decodeBody(t, r))
				where, _ := opts["where"].(map[string]any)
				if where["status"] != backend.StatusActive {
					t.Errorf("page %d: where = %v; want the status filter on every page", i, opts["where"])
				}
				if opts["limit"] != tc.wantSizes[i] {
					t.Errorf("page %d: limit = %v; want %v", i, opts["limit"], tc.wantSizes[i])
				}
				gotOffset, _ := opts["offset"].(float64)
				if gotOffset != offset {
					t.Errorf("page %d: offset = %v; want %v", i, gotOffset, offset)
				}
				offset += tc.wantSizes[i]
			}
		})
	}
}

// pageOptions returns the "$" options of the sandbox_sandboxes query in a logged query body.
func pageOptions(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	q, _ := body["query"].(map[string]any)
	ns, _ := q[backend.EntitySandboxes].(map[string]any)
	opts, ok := ns["$"].(map[string]any)
	if !ok {
		t.Fatalf("query body %v has no sandbox_sandboxes options", body)
	}
	return opts
}
