package vercelfake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

type rawClient struct {
	t     *testing.T
	f     *Fake
	token string
	team  string // query string scoping the team, e.g. "teamId=team_fake"
}

func newRaw(t *testing.T, cfg Config) (*Fake, *rawClient) {
	t.Helper()
	cfg.Dir = t.TempDir()
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f, &rawClient{t: t, f: f, token: f.Config().Token, team: "teamId=" + f.Config().TeamID}
}

// do sends a request and returns the status, the decoded JSON body (nil if not JSON) and the raw body.
func (c *rawClient) do(method, path string, body any) (int, map[string]any, []byte) {
	c.t.Helper()
	var rd io.Reader
	if b, ok := body.(string); ok {
		rd = strings.NewReader(b)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	u := c.f.URL() + path
	if c.team != "" {
		u += sep + c.team
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errMsg(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func (c *rawClient) create(name string, extra map[string]any) map[string]any {
	c.t.Helper()
	body := map[string]any{"projectId": c.f.Config().ProjectID, "name": name}
	for k, v := range extra {
		body[k] = v
	}
	st, m, raw := c.do("POST", "/v3/sandboxes", body)
	if st != 200 {
		c.t.Fatalf("create: %d %s", st, raw)
	}
	return m
}

func sessionID(m map[string]any) string {
	return str(obj(m["session"])["id"])
}

func (c *rawClient) waitStatus(want string) map[string]any {
	const name = "sm"
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, m, raw := c.do("GET", "/v2/sandboxes/"+name+"?projectId="+c.f.Config().ProjectID, nil)
		if st != 200 {
			c.t.Fatalf("get: %d %s", st, raw)
		}
		if got := obj(m["session"])["status"]; got == want {
			return m
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s never became %s", name, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAuthAndScope(t *testing.T) {
	f, c := newRaw(t, Config{})
	noTok := &rawClient{t: t, f: f, team: c.team}
	st, m, _ := noTok.do("GET", "/v2/sandboxes?project=prj_fake", nil)
	if st != 403 || errCode(m) != "forbidden" || obj(m["error"])["missingToken"] != true {
		t.Errorf("no token: %d %v", st, m)
	}
	bad := &rawClient{t: t, f: f, token: "wrong", team: c.team}
	st, m, _ = bad.do("GET", "/v2/sandboxes?project=prj_fake", nil)
	if st != 403 || obj(m["error"])["invalidToken"] != true || errMsg(m) != "Not authorized" {
		t.Errorf("bad token: %d %v", st, m)
	}
	noTeam := &rawClient{t: t, f: f, token: c.token}
	if st, m, _ = noTeam.do("GET", "/v2/sandboxes?project=prj_fake", nil); st != 400 || !strings.Contains(errMsg(m), "teamId or slug") {
		t.Errorf("no team: %d %v", st, m)
	}
	other := &rawClient{t: t, f: f, token: c.token, team: "teamId=team_other"}
	if st, _, _ = other.do("GET", "/v2/sandboxes?project=prj_fake", nil); st != 403 {
		t.Errorf("other team: %d", st)
	}
	slug := &rawClient{t: t, f: f, token: c.token, team: "slug=" + f.Config().TeamSlug}
	if st, _, _ = slug.do("GET", "/v2/sandboxes?project=prj_fake", nil); st != 200 {
		t.Errorf("slug: %d", st)
	}
	if st, m, _ = c.do("GET", "/v2/sandboxes", nil); st != 400 {
		t.Errorf("list without project: %d %v", st, m)
	}
	if st, m, _ = c.do("GET", "/v2/sandboxes?project=prj_other", nil); st != 404 || errMsg(m) != "Project not found." {
		t.Errorf("other project: %d %v", st, m)
	}
	if st, _, _ = c.do("POST", "/v3/sandboxes", map[string]any{"name": "x"}); st != 400 {
		t.Errorf("create without projectId: %d", st)
	}
	if st, _, _ = c.do("GET", "/v2/sandboxes/x", nil); st != 400 {
		t.Errorf("get without projectId: %d", st)
	}
	if st, m, _ = c.do("GET", "/v1/sandboxes/x", nil); st != 404 || errCode(m) != "not_found" {
		t.Errorf("legacy v1: %d %v", st, m)
	}
}

func TestBodyValidation(t *testing.T) {
	_, c := newRaw(t, Config{})
	p := map[string]any{"projectId": "prj_fake"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range p {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[str(kv[i])] = kv[i+1]
		}
		return m
	}
	ports := make([]int, 16)
	for i := range ports {
		ports[i] = 3000 + i
	}
	for name, tc := range map[string]struct {
		path string
		body map[string]any
		want string
	}{
		"unknown field":       {"/v3/sandboxes", with("colour", "red"), "additional property `colour`"},
		"runtime on v3":       {"/v3/sandboxes", with("runtime", "node22"), "additional property `runtime`"},
		"image on v2":         {"/v2/sandboxes", with("image", "ubuntu"), "additional property `image`"},
		"runtime enum":        {"/v2/sandboxes", with("runtime", "node18"), "allowed values"},
		"name":                {"/v3/sandboxes", with("name", "a b"), "`name`"},
		"16 ports":            {"/v3/sandboxes", with("ports", ports), "more than 15"},
		"port 80":             {"/v3/sandboxes", with("ports", []int{80}), ">= 1024"},
		"timeout":             {"/v3/sandboxes", with("timeout", 10), ">= 1000"},
		"timeout over plan":   {"/v3/sandboxes", with("timeout", 25*3600*1000), "maximum of your plan"},
		"odd vcpus":           {"/v3/sandboxes", with("resources", map[string]any{"vcpus": 3}), "1 or an even number"},
		"memory":              {"/v3/sandboxes", with("resources", map[string]any{"vcpus": 2, "memory": 1000}), "vcpus * 2048"},
		"tags":                {"/v3/sandboxes", with("tags", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6"}), "more than 5"},
		"source type":         {"/v3/sandboxes", with("source", map[string]any{"type": "svn"}), "source.type"},
		"snapshot + runtime":  {"/v2/sandboxes", with("runtime", "node22", "source", map[string]any{"type": "snapshot", "snapshotId": "snap_x"}), "cannot be used with a snapshot"},
		"snapshot expiration": {"/v3/sandboxes", with("snapshotExpiration", 3600000), "one day"},
		"keep last":           {"/v3/sandboxes", with("keepLastSnapshots", map[string]any{"count": 11}), "between 1 and 10"},
		"policy mode":         {"/v3/sandboxes", with("networkPolicy", map[string]any{"mode": "open"}), "networkPolicy.mode"},
		"policy two actions": {"/v3/sandboxes", with("networkPolicy", map[string]any{"allow": map[string]any{"a.com": []any{
			map[string]any{"transform": []any{map[string]any{"headers": map[string]string{"x": "1"}}}, "forwardURL": "https://p.example"}}}}), "exactly one of"},
		"policy no action": {"/v3/sandboxes", with("networkPolicy", map[string]any{"allow": map[string]any{"a.com": []any{map[string]any{}}}}), "exactly one of"},
		"policy domain":    {"/v3/sandboxes", with("networkPolicy", map[string]any{"allow": []string{"https://a.com"}}), "invalid domain"},
		"policy extra key": {"/v3/sandboxes", with("networkPolicy", map[string]any{"mode": "deny-all", "allow": []string{"a.com"}}), "takes no other property"},
	} {
		t.Run(name, func(t *testing.T) {
			st, m, raw := c.do("POST", tc.path, tc.body)
			if st != 400 || errCode(m) != "bad_request" || !strings.Contains(errMsg(m), tc.want) {
				t.Errorf("%d %s; want 400 bad_request saying %q", st, raw, tc.want)
			}
		})
	}
	if st, m, _ := c.do("POST", "/v3/sandboxes", with("source", map[string]any{"type": "snapshot", "snapshotId": "snap_none"})); st != 404 || errMsg(m) != "Snapshot not found." {
		t.Errorf("unknown snapshot source: %d %v", st, m)
	}
}

func TestStatusMachine(t *testing.T) {
	f, c := newRaw(t, Config{BootDelay: 100 * time.Millisecond, StopDelay: 100 * time.Millisecond, SnapshotDelay: 100 * time.Millisecond})
	m := c.create("sm", map[string]any{"persistent": true})
	if st := obj(m["session"])["status"]; st != "pending" {
		t.Errorf("a new session is %v, want pending", st)
	}
	if st, _, _ := c.do("POST", "/v3/sandboxes", map[string]any{"projectId": "prj_fake", "name": "sm"}); st != 409 {
		t.Errorf("second create with the same name: %d, want 409", st)
	}
	m = c.waitStatus("running")
	sid := sessionID(m)
	// A stop: stopping at once (with the automatic snapshot of a persistent sandbox), stopped later.
	st, sm, raw := c.do("POST", "/v2/sandboxes/sessions/"+sid+"/stop", nil)
	if st != 200 || obj(sm["session"])["status"] != "stopping" || sm["snapshot"] == nil {
		t.Fatalf("stop: %d %s", st, raw)
	}
	if st, em, _ := c.do("POST", "/v2/sandboxes/sessions/"+sid+"/cmd", map[string]any{"command": "true"}); st != 422 || errCode(em) != "sandbox_stopping" {
		t.Errorf("cmd while stopping: %d %v", st, em)
	}
	c.waitStatus("stopped")
	if st, em, _ := c.do("POST", "/v2/sandboxes/sessions/"+sid+"/cmd", map[string]any{"command": "true"}); st != 410 || errCode(em) != "sandbox_stopped" {
		t.Errorf("cmd when stopped: %d %v", st, em)
	}
	// Resume: a new session from the snapshot.
	st, rm, raw := c.do("GET", "/v2/sandboxes/sm?projectId=prj_fake&resume=true", nil)
	if st != 200 || rm["resumed"] != true || sessionID(rm) == sid || obj(rm["session"])["sourceSnapshotId"] == nil {
		t.Fatalf("resume: %d %s", st, raw)
	}
	if f.Resumes() != 1 {
		t.Errorf("Resumes = %d", f.Resumes())
	}
	m = c.waitStatus("running")
	sid = sessionID(m)
	// A snapshot: 201, snapshotting, then stopped.
	st, snm, raw := c.do("POST", "/v2/sandboxes/sessions/"+sid+"/snapshot", map[string]any{"expiration": 0})
	if st != 201 || obj(snm["session"])["status"] != "snapshotting" {
		t.Fatalf("snapshot: %d %s", st, raw)
	}
	if st, em, _ := c.do("POST", "/v2/sandboxes/sessions/"+sid+"/fs/read", map[string]any{"path": "x"}); st != 422 || errCode(em) != "sandbox_snapshotting" {
		t.Errorf("read while snapshotting: %d %v", st, em)
	}
	c.waitStatus("stopped")
	snap := obj(snm["snapshot"])
	if _, ok := snap["expiresAt"]; ok {
		t.Errorf("expiration 0 gave an expiry: %v", snap)
	}
	if st, _, _ := c.do("DELETE", "/v2/sandboxes/sm?projectId=prj_fake&deleteOrphanSnapshots=true", nil); st != 200 {
		t.Errorf("delete: %d", st)
	}
	if st, em, _ := c.do("GET", "/v2/sandboxes/sm?projectId=prj_fake", nil); st != 404 || errMsg(em) != "Vercel Sandbox not found." {
		t.Errorf("get after delete: %d %v", st, em)
	}
	if st, _, _ := c.do("GET", "/v2/sandboxes/snapshots/"+str(snap["id"]), nil); st != 404 {
		t.Errorf("snapshot after deleteOrphanSnapshots: %d", st)
	}
}

func TestCommandStreamAndPolicyRedaction(t *testing.T) {
	f, c := newRaw(t, Config{})
	const secret = "Bearer sk-very-secret"
	m := c.create("cs", map[string]any{"env": map[string]string{"FROM_SANDBOX": "sb"},
		"networkPolicy": map[string]any{"allow": map[string]any{"api.openai.com": []any{map[string]any{"transform": []any{map[string]any{"headers": map[string]string{"authorization": secret}}}}}, "example.com": []any{}}}})
	if bytes.Contains(mustJSON(m), []byte("sk-very-secret")) {
		t.Errorf("the create's answer shows a header value: %s", mustJSON(m))
	}
	pol := obj(obj(m["sandbox"])["networkPolicy"])
	if pol["mode"] != "custom" || !strings.Contains(string(mustJSON(pol)), `"headerNames":["authorization"]`) {
		t.Errorf("response policy = %s", mustJSON(pol))
	}
	if recs := f.NetworkPolicies("cs"); len(recs) != 1 || !strings.Contains(string(recs[0].Body), secret) {
		t.Errorf("the fake did not record the policy as sent: %+v", recs)
	}
	sid := sessionID(m) // pending: the command waits for it to run
	req, _ := http.NewRequestWithContext(t.Context(), "POST", f.URL()+"/v2/sandboxes/sessions/"+sid+"/cmd?"+c.team, strings.NewReader(
		`{"command":"sh","args":["-c","echo out; echo err >&2; printf '%s' \"$FROM_SANDBOX$FROM_CMD$HOME_IS_HOST\"; exit 7"],"env":{"FROM_CMD":"cmd"},"wait":true,"logs":true}`))
	req.Header.Set("Authorization", "Bearer "+c.token)
	t.Setenv("HOME_IS_HOST", "leak")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	var lines []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	first := obj(lines[0]["command"])
	if v, ok := first["exitCode"]; !ok || v != nil {
		t.Errorf("first line %v: want exitCode null", lines[0])
	}
	last := obj(lines[len(lines)-1]["command"])
	if last["exitCode"] != float64(7) {
		t.Errorf("last line %v", lines[len(lines)-1])
	}
	var out, errs string
	for _, l := range lines[1 : len(lines)-1] {
		switch l["stream"] {
		case "stdout":
			out += str(l["data"])
		case "stderr":
			errs += str(l["data"])
		}
	}
	if out != "out\nsbcmd" || errs != "err\n" {
		t.Errorf("stdout %q, stderr %q; want the sandbox env and the command env, never the host's", out, errs)
	}
	// fs/write takes only a gzipped tar.
	if st, em, _ := c.do("POST", "/v2/sandboxes/sessions/"+sid+"/fs/write", "{}"); st != 415 {
		t.Errorf("fs/write with JSON: %d %v", st, em)
	}
	if st, em, _ := c.do("POST", "/v2/sandboxes/sessions/"+sid+"/fs/read", map[string]any{"path": "missing"}); st != 404 || errCode(em) != "not_found" {
		t.Errorf("fs/read of a missing file: %d %v", st, em)
	}
	if st, _, _ := c.do("POST", "/v2/sandboxes/sessions/sbx_nope/cmd", map[string]any{"command": "true"}); st != 404 {
		t.Errorf("cmd in an unknown session: %d", st)
	}
	if n := f.Requests("POST /v2/sandboxes/sessions/{sessionId}/cmd"); n != 2 {
		t.Errorf("Requests(cmd) = %d, want 2", n)
	}
}

func TestFaults(t *testing.T) {
	f, c := newRaw(t, Config{})
	f.Faults().Add(harness.Fault{Route: "GET /v2/sandboxes", Status: 429, RetryAfter: "2"},
		harness.Fault{Route: "GET /v2/sandboxes", Nth: 3, Status: 503})
	st, m, _ := c.do("GET", "/v2/sandboxes?project=prj_fake", nil)
	if st != 429 || errCode(m) != "rate_limited" {
		t.Errorf("first: %d %v", st, m)
	}
	if st, _, _ = c.do("GET", "/v2/sandboxes?project=prj_fake", nil); st != 200 {
		t.Errorf("second (0 = served): %d", st)
	}
	if st, _, _ = c.do("GET", "/v2/sandboxes?project=prj_fake", nil); st != 503 {
		t.Errorf("third: %d", st)
	}
	if st, _, _ = c.do("GET", "/v2/sandboxes?project=prj_fake", nil); st != 200 {
		t.Errorf("after the fault is spent: %d", st)
	}
	// Applied then failed: the sandbox exists although the answer was a 500.
	f.Faults().Add(harness.Fault{Route: "POST /v3/sandboxes", Status: 500, AfterApply: true})
	if st, _, _ = c.do("POST", "/v3/sandboxes", map[string]any{"projectId": "prj_fake", "name": "applied"}); st != 500 {
		t.Errorf("applied fault: %d", st)
	}
	if st, _, _ = c.do("GET", "/v2/sandboxes/applied?projectId=prj_fake", nil); st != 200 {
		t.Errorf("the applied create left no sandbox: %d", st)
	}
	if f.Requests("POST /v3/sandboxes") != 1 || f.Requests("") != 6 {
		t.Errorf("counters: create %d, total %d", f.Requests("POST /v3/sandboxes"), f.Requests(""))
	}
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
