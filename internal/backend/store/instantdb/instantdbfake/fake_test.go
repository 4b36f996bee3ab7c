package instantdbfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

const (
	appID = "0b9d2a5e-4c1f-4a8e-9f3b-2d6c7e8f9a01"
	token = "7f3c9e2a-1b4d-4e6f-8a0c-5d2e9b7f1c33"
	id1   = "00000000-0000-4000-8000-000000000001"
	id2   = "00000000-0000-4000-8000-000000000002"
	id3   = "00000000-0000-4000-8000-000000000003"
)

type call struct {
	endpoint string
	body     string
	header   http.Header // replaces the default headers when not nil
	query    string      // replaces ?app_id=<appID> when not empty
}

func defaultHeader() http.Header {
	return http.Header{
		"Content-Type":  {"application/json"},
		"App-Id":        {appID},
		"Authorization": {"Bearer " + token},
	}
}

// do sends c and returns the status and the decoded body (or the raw text under "text").
func do(t *testing.T, s *Server, c call) (int, map[string]any) {
	t.Helper()
	q := c.query
	if q == "" {
		q = "app_id=" + appID
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+c.endpoint+"?"+q, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = defaultHeader()
	if c.header != nil {
		req.Header = c.header
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		m = map[string]any{"text": string(b)}
	}
	return resp.StatusCode, m
}

func transact(steps string) call {
	return call{endpoint: EndpointTransact, body: `{"steps":` + steps + `,"throw-on-missing-attrs?":true}`}
}

func query(q string) call { return call{endpoint: EndpointQuery, body: `{"query":` + q + `}`} }

func mustOK(t *testing.T, s *Server, c call) map[string]any {
	t.Helper()
	status, body := do(t, s, c)
	if status != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d %v", c.endpoint, c.body, status, body)
	}
	return body
}

func newServer(t *testing.T) *Server {
	t.Helper()
	s := New(appID, token)
	t.Cleanup(s.Close)
	return s
}

func withHeader(mod func(http.Header)) http.Header {
	h := defaultHeader()
	mod(h)
	return h
}

// TestRejections checks each rule the fake enforces: status, error type and message.
func TestRejections(t *testing.T) {
	s := newServer(t)
	mustOK(t, s, transact(`[["create","sandbox_sandboxes","`+id1+`",{"status":"active","createdAt":1}]]`))
	cases := []struct {
		name   string
		c      call
		status int
		typ    string
		msg    string
	}{
		{"no app id", call{endpoint: EndpointQuery, body: `{"query":{}}`, query: "x=1",
			header: withHeader(func(h http.Header) { h.Del("App-Id") })},
			400, "param-missing", `Missing parameter: ["headers" "app-id"]`},
		{"app id not a UUID", call{endpoint: EndpointQuery, body: `{"query":{}}`, query: "x=1",
			header: withHeader(func(h http.Header) { h.Set("App-Id", "my-app") })},
			400, "param-malformed", `Malformed parameter: ["headers" "app-id"]`},
		{"app id header and param differ", call{endpoint: EndpointQuery, body: `{"query":{}}`, query: "app_id=" + id2},
			400, "fake-strict", "differ"},
		{"no authorization", call{endpoint: EndpointQuery, body: `{"query":{}}`,
			header: withHeader(func(h http.Header) { h.Del("Authorization") })},
			400, "param-missing", `Missing parameter: ["headers" "authorization"]`},
		{"token not a UUID", call{endpoint: EndpointQuery, body: `{"query":{}}`,
			header: withHeader(func(h http.Header) { h.Set("Authorization", "Bearer secret") })},
			400, "param-malformed", `Malformed parameter: ["headers" "authorization"]`},
		{"wrong token", call{endpoint: EndpointQuery, body: `{"query":{}}`,
			header: withHeader(func(h http.Header) { h.Set("Authorization", "Bearer "+id3) })},
			400, "record-not-found", "Record not found: app-admin-token"},
		{"token of another app", call{endpoint: EndpointQuery, body: `{"query":{}}`, query: "app_id=" + id2,
			header: withHeader(func(h http.Header) { h.Set("App-Id", id2) })},
			400, "record-not-found", "Record not found: app-admin-token"},
		{"not JSON content type", call{endpoint: EndpointTransact, body: `{"steps":[]}`,
			header: withHeader(func(h http.Header) { h.Set("Content-Type", "text/plain") })},
			400, "param-missing", `Missing parameter: ["body" "steps"]`},
		{"malformed JSON", call{endpoint: EndpointTransact, body: `{"steps":[`}, 400, "", "Malformed JSON in request body."},
		{"no query", call{endpoint: EndpointQuery, body: `{}`}, 400, "param-missing", `["body" "query"]`},
		{"query not an object", call{endpoint: EndpointQuery, body: `{"query":[1]}`}, 400, "param-malformed", `["body" "query"]`},
		{"steps not a list", call{endpoint: EndpointTransact, body: `{"steps":"x"}`}, 400, "param-malformed", `["body" "steps"]`},
		{"step not a list", transact(`[{"a":1}]`), 400, "validation-failed", "Validation failed for steps"},
		{"unknown action", transact(`[["upsert","sandbox_sandboxes","` + id2 + `",{}]]`), 400, "validation-failed", "Validation failed for steps"},
		{"entity id not a UUID", transact(`[["update","sandbox_sandboxes","abc",{"status":"x"}]]`), 400, "validation-failed",
			"Invalid entity ID 'abc'. Entity IDs must be UUIDs or lookup references."},
		{"create without args", transact(`[["create","sandbox_sandboxes","` + id2 + `"]]`), 400, "validation-failed", "Validation failed for steps"},
		{"bad upsert option", transact(`[["update","sandbox_sandboxes","` + id1 + `",{},{"upsert":"no"}]]`), 400, "validation-failed", "Validation failed for steps"},
		{"create existing", transact(`[["create","sandbox_sandboxes","` + id1 + `",{"status":"x"}]]`), 400, "validation-failed",
			"Validation failed for tx-step: Creating entities that exist: " + id1},
		{"strict update of missing", transact(`[["update","sandbox_sandboxes","` + id2 + `",{"status":"x"},{"upsert":false}]]`), 400, "validation-failed",
			"Validation failed for tx-step: Updating entities that don't exist: " + id2},
		{"missing attribute", transact(`[["update","sandbox_sandboxes","` + id1 + `",{"nope":1}]]`), 400, "validation-failed",
			"Validation failed for steps: Attributes are missing in your schema"},
		{"wrong value type", transact(`[["update","sandbox_sandboxes","` + id1 + `",{"createdAt":"1"}]]`), 400, "validation-failed",
			"Invalid value type for sandbox_sandboxes.createdAt. Value must be a number but the provided value type is string."},
		{"link the schema does not declare", transact(`[["link","sandbox_sandboxes","` + id1 + `",{"user":"` + id2 + `"}]]`), 400, "validation-failed", "Attributes are missing in your schema"},
		{"lookup", transact(`[["update","sandbox_sandboxes",["status","x"],{}]]`), 400, "fake-unsupported", "lookup"},
		{"comparison on unindexed", query(`{"sandbox_sandboxes":{"$":{"where":{"timeout":{"$gt":1}}}}}`), 400, "validation-failed",
			"The `sandbox_sandboxes.timeout` attribute must be indexed to use comparison operators."},
		{"comparison on untyped", query(`{"sandbox_setups":{"$":{"where":{"params":{"$lt":1}}}}}`), 400, "validation-failed", "must be indexed"},
		{"comparison value of the wrong type", query(`{"sandbox_sandboxes":{"$":{"where":{"createdAt":{"$gt":"1"}}}}}`), 400, "validation-failed",
			"The data type of `sandbox_sandboxes.createdAt` is `number`, but the query got value `\"1\"` of type `string`."},
		{"equality of the wrong type on an indexed attribute", query(`{"sandbox_sandboxes":{"$":{"where":{"status":1}}}}`), 400, "validation-failed",
			"The data type of `sandbox_sandboxes.status` is `string`"},
		{"null in where", query(`{"sandbox_sandboxes":{"$":{"where":{"status":null}}}}`), 400, "validation-failed", "Validation failed for query"},
		{"two operators in one map", query(`{"sandbox_sandboxes":{"$":{"where":{"createdAt":{"$gt":1,"$lt":5}}}}}`), 400, "fake-strict", "use `and`"},
		{"unknown operator", query(`{"sandbox_sandboxes":{"$":{"where":{"status":{"$regex":"x"}}}}}`), 400, "validation-failed", "Validation failed for query"},
		{"empty or", query(`{"sandbox_sandboxes":{"$":{"where":{"or":[]}}}}`), 400, "validation-failed", "The list of `or` conditions can't be empty."},
		{"order on unindexed", query(`{"sandbox_sandboxes":{"$":{"order":{"runtime":"asc"}}}}`), 400, "validation-failed",
			"The `sandbox_sandboxes.runtime` attribute is not indexed. Only indexed and typed attributes can be used to order by."},
		{"order on json", query(`{"sandbox_sandboxes":{"$":{"order":{"params":"asc"}}}}`), 400, "validation-failed", "is not typed"},
		{"order on unknown", query(`{"sandbox_sandboxes":{"$":{"order":{"nope":"asc"}}}}`), 400, "validation-failed",
			"There is no `nope` attribute for sandbox_sandboxes."},
		{"order two keys", query(`{"sandbox_sandboxes":{"$":{"order":{"createdAt":"asc","updatedAt":"asc"}}}}`), 400, "validation-failed",
			"We only support a single key in the `order` clause."},
		{"order direction", query(`{"sandbox_sandboxes":{"$":{"order":{"createdAt":"up"}}}}`), 400, "validation-failed",
			`We only support "asc" or "desc" in the ` + "`order`" + ` clause. Got "up".`},
		{"limit 0", query(`{"sandbox_sandboxes":{"$":{"limit":0}}}`), 400, "validation-failed", "The limit field must be a positive integer. Got 0."},
		{"limit not an integer", query(`{"sandbox_sandboxes":{"$":{"limit":2.5}}}`), 400, "validation-failed", "The limit field must be a positive integer. Got 2.5."},
		{"negative offset", query(`{"sandbox_sandboxes":{"$":{"offset":-1}}}`), 400, "validation-failed", "The offset field must be a non-negative integer. Got -1."},
		{"limit and first", query(`{"sandbox_sandboxes":{"$":{"limit":1,"first":1}}}`), 400, "validation-failed", "Only provide one of `limit` or `first`."},
		{"unknown option", query(`{"sandbox_sandboxes":{"$":{"sort":{"createdAt":"asc"}}}}`), 400, "validation-failed",
			"We only support `where`, `order`, `limit`, `offset`, `before`, and `after` clauses."},
		{"cursor", query(`{"sandbox_sandboxes":{"$":{"after":["a","b",1,2]}}}`), 400, "fake-unsupported", "cursors"},
		{"nested query of an undeclared link", query(`{"sandbox_sandboxes":{"user":{}}}`), 400, "fake-unsupported", "no such link"},
		{"impersonation", call{endpoint: EndpointQuery, body: `{"query":{}}`,
			header: withHeader(func(h http.Header) { h.Set("As-Guest", "true") })}, 400, "fake-unsupported", "impersonation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, s, tc.c)
			if status != tc.status {
				t.Errorf("HTTP %d; want %d (%v)", status, tc.status, body)
			}
			if tc.typ != "" && body["type"] != tc.typ {
				t.Errorf("type %v; want %s (%v)", body["type"], tc.typ, body)
			}
			msg, _ := body["message"].(string)
			if tc.typ == "" {
				msg, _ = body["text"].(string)
			}
			if !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q; want it to contain %q", msg, tc.msg)
			}
		})
	}
	// Nothing of the rejected transactions was written.
	if got := s.Dump("sandbox_sandboxes"); len(got) != 1 || fmt.Sprint(got[id1]["status"]) != "active" {
		t.Errorf("after the rejections: %v", got)
	}
}

// TestTokenEchoed: like the real server, the fake echoes the presented token in hint fields, which is why
// clients must never show raw error bodies.
func TestTokenEchoed(t *testing.T) {
	s := newServer(t)
	for _, auth := range []string{"Bearer " + id3, "Bearer not-a-uuid-secret"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+EndpointQuery, strings.NewReader(`{"query":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = withHeader(func(h http.Header) { h.Set("Authorization", auth) })
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if secret := strings.TrimPrefix(auth, "Bearer "); !bytes.Contains(b, []byte(secret)) {
			t.Errorf("body %s does not echo %q", b, secret)
		}
	}
}

func TestTransactAndQuery(t *testing.T) {
	s := newServer(t)
	// Schemaless writes (no throw-on-missing-attrs?) create attributes on the fly, untyped and unindexed.
	mustOK(t, s, call{endpoint: EndpointTransact, body: `{"steps":[["update","sandbox_sandboxes","` + id1 + `",{"status":"active","createdAt":30,"extra":{"a":1}}]]}`})
	mustOK(t, s, transact(`[["create","sandbox_sandboxes","`+strings.ToUpper(id2)+`",{"status":"active","createdAt":10,"updatedAt":5,"id":"ignored"}],
		["create","sandbox_sandboxes","`+id3+`",{"status":"shutdown","createdAt":20,"params":{"k":[1,2]}}]]`))
	if _, ok := s.Dump("sandbox_sandboxes")[id2]; !ok {
		t.Fatalf("an upper-case id is stored lower-cased: %v", s.Dump("sandbox_sandboxes"))
	}
	status, body := do(t, s, query(`{"sandbox_sandboxes":{"$":{"where":{"extra":{"$gt":1}}}}}`))
	if status != 400 || !strings.Contains(fmt.Sprint(body["message"]), "must be indexed") {
		t.Errorf("comparison on an attribute created on the fly: %d %v", status, body)
	}

	ids := func(body map[string]any, ns string) []string {
		var out []string
		list, _ := body[ns].([]any)
		for _, e := range list {
			m, _ := e.(map[string]any)
			id, _ := m["id"].(string)
			out = append(out, id)
		}
		return out
	}
	cases := []struct {
		q    string
		want []string
	}{
		{`{"sandbox_sandboxes":{}}`, []string{id1, id2, id3}},                                               // serverCreatedAt
		{`{"sandbox_sandboxes":{"$":{"order":{"createdAt":"asc"}}}}`, []string{id2, id3, id1}},              // by value
		{`{"sandbox_sandboxes":{"$":{"order":{"createdAt":"desc"},"limit":2}}}`, []string{id1, id3}},        // limit
		{`{"sandbox_sandboxes":{"$":{"order":{"createdAt":"asc"},"offset":1}}}`, []string{id3, id1}},        // offset
		{`{"sandbox_sandboxes":{"$":{"order":{"updatedAt":"asc"}}}}`, []string{id1, id3, id2}},              // nulls first, ties by id
		{`{"sandbox_sandboxes":{"$":{"order":{"updatedAt":"desc"}}}}`, []string{id2, id3, id1}},             // nulls last
		{`{"sandbox_sandboxes":{"$":{"where":{"status":"active","createdAt":{"$gt":15}}}}}`, []string{id1}}, // AND
		{`{"sandbox_sandboxes":{"$":{"where":{"id":"` + id3 + `"}}}}`, []string{id3}},
		{`{"sandbox_sandboxes":{"$":{"where":{"or":[{"createdAt":{"$lt":15}},{"status":"shutdown"}]}}}}`, []string{id2, id3}},
		{`{"sandbox_sandboxes":{"$":{"where":{"and":[{"createdAt":{"$gt":5}},{"createdAt":{"$lt":25}}]}}}}`, []string{id2, id3}},
		{`{"sandbox_sandboxes":{"$":{"where":{"updatedAt":{"$isNull":true}}}}}`, []string{id1, id3}},
		{`{"sandbox_sandboxes":{"$":{"where":{"status":{"$in":["shutdown","error"]}}}}}`, []string{id3}},
		{`{"sandbox_sandboxes":{"$":{"where":{"status":{"$ne":"active"}}}}}`, []string{id3}},
		{`{"sandbox_sandboxes":{"$":{"where":{"nosuch":"x"}}}}`, nil}, // unknown attribute: empty, as the server
		{`{"sandbox_nothing":{"$":{"order":{"nope":"asc"}}}}`, nil},   // unknown namespace: empty
	}
	for _, c := range cases {
		body := mustOK(t, s, query(c.q))
		var ns string
		for k := range body {
			ns = k
		}
		if got := ids(body, ns); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: ids %v; want %v", c.q, got, c.want)
		}
	}

	// Strict update, null clears (kept as an explicit null), merge deep-merges, delete.
	mustOK(t, s, transact(`[["update","sandbox_sandboxes","`+id3+`",{"status":"active","params":null},{"upsert":false}],
		["merge","sandbox_sandboxes","`+id1+`",{"extra":{"b":2,"a":null}}]]`))
	got := s.Dump("sandbox_sandboxes")
	if v, ok := got[id3]["params"]; !ok || v != nil {
		t.Errorf("params after null update = %v, %v; want an explicit null", v, ok)
	}
	if fmt.Sprint(got[id1]["extra"]) != "map[b:2]" {
		t.Errorf("extra after merge = %v", got[id1]["extra"])
	}
	body = mustOK(t, s, query(`{"sandbox_sandboxes":{"$":{"where":{"id":"`+id3+`"},"fields":["status"]}}}`))
	list, _ := body["sandbox_sandboxes"].([]any)
	if len(list) != 1 {
		t.Fatalf("fields query: %v", body)
	}
	if e, _ := list[0].(map[string]any); len(e) != 2 || e["status"] != "active" {
		t.Errorf("fields projection = %v", e)
	}
	mustOK(t, s, transact(`[["delete","sandbox_sandboxes","`+id3+`"],["delete","sandbox_sandboxes","`+id3+`",null]]`))
	if _, ok := s.Dump("sandbox_sandboxes")[id3]; ok {
		t.Error("delete left the entity")
	}
	if n := s.Count(EndpointTransact); n < 4 {
		t.Errorf("transact count = %d", n)
	}
}

func TestFaults(t *testing.T) {
	s := newServer(t)
	s.Faults().Add(harness.Fault{Route: RouteTransact, Status: 429, RetryAfter: "7"}, harness.Fault{Status: 503}, harness.Fault{Status: 500})
	// The query skips the transact-only fault and takes the 503.
	status, body := do(t, s, query(`{}`))
	if status != 503 || !strings.Contains(fmt.Sprint(body["text"]), "Service Unavailable") {
		t.Errorf("first query: %d %v; want the plain-text 503", status, body)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL()+EndpointTransact+"?app_id="+appID, strings.NewReader(`{"steps":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = defaultHeader()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Errorf("transact: %d Retry-After %q; want 429 and 7", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	status, body = do(t, s, query(`{}`))
	if status != 500 || body["type"] != "unknown" {
		t.Errorf("third request: %d %v", status, body)
	}
	if s.Faults().Pending() != 0 {
		t.Errorf("%d faults left", s.Faults().Pending())
	}
	mustOK(t, s, query(`{}`))
	if s.Count(EndpointQuery) != 3 || s.Count(EndpointTransact) != 1 || len(s.Requests()) != 4 {
		t.Errorf("counts: query %d transact %d log %d", s.Count(EndpointQuery), s.Count(EndpointTransact), len(s.Requests()))
	}

	// Close releases a request waiting in a delay.
	s2 := New(appID, token)
	s2.Faults().Add(harness.Fault{Delay: time.Minute})
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, err := http.NewRequest(http.MethodPost, s2.URL()+EndpointQuery, strings.NewReader(`{"query":{}}`))
		if err != nil {
			return
		}
		req.Header = defaultHeader()
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	for s2.Count(EndpointQuery) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	s2.Close()
	<-done
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s with a delayed request in flight", d)
	}
}
