package daytonafake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

const key = "fake-key-1"

type client struct {
	t *testing.T
	s *Server
}

// call sends a request and returns the status and the decoded JSON body (nil when not JSON).
func (c client) call(method, path string, body any, auth bool) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := c.s.URL() + path
	if strings.HasPrefix(path, "/toolbox/") {
		u = c.s.ToolboxURL() + strings.TrimPrefix(path, "/toolbox")
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func (c client) want(status int, msgPart string, gotStatus int, body map[string]any) {
	c.t.Helper()
	msg, _ := body["message"].(string)
	if gotStatus != status || !strings.Contains(msg, msgPart) {
		c.t.Errorf("got %d %v; want %d with a message containing %q", gotStatus, body, status, msgPart)
	}
}

func (c client) waitState(id, state string) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c.s.SandboxState(id) == state {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("sandbox %s never reached %s (it is %s)", id, state, c.s.SandboxState(id))
}

func TestFakeEnforcesTheAPI(t *testing.T) {
	s := New(Options{APIKey: key, StepDelay: 20 * time.Millisecond, Root: t.TempDir()})
	t.Cleanup(s.Close)
	c := client{t, s}

	st, body := c.call("GET", "/sandbox", nil, false)
	c.want(401, "Unauthorized", st, body)
	if body["statusCode"] != float64(401) || body["error"] != "Unauthorized" || body["path"] != "/api/sandbox" || body["timestamp"] == nil {
		t.Errorf("error body %v lacks the API's fields", body)
	}
	st, body = c.call("GET", "/nothing-here", nil, true)
	c.want(404, "Cannot GET /api/nothing-here", st, body)

	st, body = c.call("POST", "/sandbox", map[string]any{"cpu": 2}, true)
	c.want(400, "Cannot specify Sandbox resources when using a snapshot", st, body)
	st, body = c.call("POST", "/sandbox", map[string]any{"snapshot": "x", "buildInfo": map[string]any{"dockerfileContent": "FROM a:1\n"}}, true)
	c.want(400, "both snapshot and buildInfo", st, body)
	st, body = c.call("POST", "/sandbox", map[string]any{"snapshot": "missing"}, true)
	c.want(400, "Snapshot missing not found", st, body)
	st, body = c.call("POST", "/sandbox", map[string]any{"labels": "not-a-map"}, true)
	c.want(400, "labels must be an object", st, body)
	st, body = c.call("POST", "/sandbox", map[string]any{"buildInfo": map[string]any{"dockerfileContent": "FROM a:1\n"}, "cpu": 9}, true)
	c.want(400, "exceeds maximum", st, body)

	s.SetHold(func(l map[string]string) bool { return l["k"] == "v" }) // keep it in its transition
	st, body = c.call("POST", "/sandbox", map[string]any{"name": "one", "labels": map[string]string{"k": "v"}}, true)
	if st != 200 || body["state"] != "creating" {
		t.Fatalf("create: %d %v; want 200 and creating (a transition the client must wait for)", st, body)
	}
	id, _ := body["id"].(string)
	st, body = c.call("POST", "/sandbox", map[string]any{"name": "one"}, true)
	c.want(409, "Sandbox with name one already exists", st, body)
	st, body = c.call("POST", "/sandbox/"+id+"/stop", nil, true)
	c.want(409, "Sandbox state change in progress", st, body)
	st, body = c.call("POST", "/toolbox/"+id+"/process/execute", map[string]any{"command": "echo hi"}, true)
	if st != 400 || body["code"] != "BAD_REQUEST" {
		t.Errorf("execute before started: %d %v", st, body)
	}
	s.Release()
	c.waitState(id, "started")

	st, body = c.call("POST", "/toolbox/"+id+"/process/execute", map[string]any{"command": "sh -c 'echo out; echo err >&2; exit 4'"}, true)
	if st != 200 || body["exitCode"] != float64(4) || body["result"] != "out\nerr\n" {
		t.Errorf("execute: %d %v; want exit 4 and the combined output", st, body)
	}
	st, body = c.call("POST", "/toolbox/"+id+"/process/execute", map[string]any{"command": "echo $HOME && true"}, true)
	if st != 200 || body["result"] != "$HOME && true\n" {
		t.Errorf("execute runs no shell: %d %v", st, body)
	}
	st, body = c.call("POST", "/toolbox/"+id+"/process/execute", map[string]any{"command": "sleep 5", "timeout": 1}, true)
	if st != 408 || body["code"] != "PROCESS_EXECUTION_TIMEOUT" {
		t.Errorf("execute past its timeout: %d %v", st, body)
	}
	st, body = c.call("POST", "/toolbox/"+id+"/process/execute", map[string]any{"command": " "}, true)
	if st != 400 {
		t.Errorf("execute of a blank command: %d %v", st, body)
	}
	st, body = c.call("POST", "/toolbox/"+id+"/process/execute", map[string]any{"command": "sh -c 'printf %s \"$SECRET_OF_HOST\"'"}, true)
	if st != 200 || body["result"] != "" {
		t.Errorf("the host's environment leaks into commands: %v", body)
	}

	st, body = c.call("GET", "/sandbox?labels="+url.QueryEscape("{bad"), nil, true)
	c.want(400, "Invalid labels JSON format", st, body)
	st, body = c.call("GET", "/sandbox?limit=1&labels="+url.QueryEscape(`{"k":"v"}`), nil, true)
	if items, _ := body["items"].([]any); st != 200 || len(items) != 1 || body["nextCursor"] != nil {
		t.Errorf("list by label: %d %v", st, body)
	} else if item, _ := items[0].(map[string]any); item["env"] != nil || item["volumes"] != nil {
		t.Errorf("list items carry env or volumes: %v", item)
	}

	// Volumes: not ready, then in use.
	st, body = c.call("POST", "/volumes", map[string]any{}, true)
	c.want(400, "name must be a string", st, body)
	st, body = c.call("POST", "/volumes", map[string]any{"name": "vol"}, true)
	if st != 200 || body["state"] != "pending_create" {
		t.Fatalf("volume create: %d %v", st, body)
	}
	vid, _ := body["id"].(string)
	st, body = c.call("POST", "/sandbox", map[string]any{"volumes": []any{map[string]any{"volumeId": "vol", "mountPath": "/data"}}}, true)
	c.want(400, "is not in a ready state", st, body)
	time.Sleep(60 * time.Millisecond)
	st, body = c.call("POST", "/sandbox", map[string]any{"volumes": []any{map[string]any{"volumeId": vid, "mountPath": "/etc/x"}}}, true)
	c.want(400, "cannot mount under /etc", st, body)
	st, body = c.call("POST", "/sandbox", map[string]any{"name": "two", "volumes": []any{map[string]any{"volumeId": "vol", "mountPath": "/data"}}}, true)
	if st != 200 {
		t.Fatalf("create with a ready volume by name: %d %v", st, body)
	}
	st, body = c.call("POST", "/volumes", map[string]any{"name": "vol"}, true)
	c.want(400, "Volume with name vol already exists", st, body)
	st, body = c.call("DELETE", "/volumes/"+vid, nil, true)
	c.want(409, "in use by one or more sandboxes (e.g. two)", st, body)

	// Snapshots.
	st, body = c.call("POST", "/snapshots", map[string]any{"name": "s1", "imageName": "python:latest"}, true)
	c.want(400, `":latest" are not allowed`, st, body)
	st, body = c.call("POST", "/snapshots", map[string]any{"name": "s1", "imageName": "python"}, true)
	c.want(400, "must include a tag", st, body)
	st, body = c.call("DELETE", "/snapshots/s1", nil, true)
	c.want(400, "uuid is expected", st, body)

	// Stop, then the stop rules; delete, then 404.
	st, _ = c.call("POST", "/sandbox/"+id+"/stop", nil, true)
	if st != 200 {
		t.Fatalf("stop: %d", st)
	}
	c.waitState(id, "stopped")
	st, body = c.call("POST", "/sandbox/"+id+"/stop", nil, true)
	c.want(400, "not in a stoppable state", st, body)
	st, body = c.call("DELETE", "/sandbox/"+id, nil, true)
	if name, _ := body["name"].(string); st != 200 || body["state"] != "destroying" || !strings.HasPrefix(name, "DESTROYED_one_") {
		t.Errorf("delete: %d %v", st, body)
	}
	c.waitState(id, "destroyed")
	st, body = c.call("GET", "/sandbox/"+id, nil, true)
	c.want(404, "not found", st, body)
}

func TestFakeFaults(t *testing.T) {
	s := New(Options{APIKey: key, StepDelay: 10 * time.Millisecond, Root: t.TempDir()})
	t.Cleanup(s.Close)
	c := client{t, s}
	s.Faults().Add(harness.Fault{Route: "POST /volumes", Status: 502, AfterApply: true}, harness.Fault{Route: "GET /volumes", Status: 429, RetryAfter: "2"})
	if st, _ := c.call("POST", "/volumes", map[string]any{"name": "v"}, true); st != 502 {
		t.Errorf("applied fault answered %d", st)
	}
	st, body := c.call("GET", "/volumes", nil, true)
	c.want(429, "Rate limit exceeded", st, body)
	st, _ = c.call("GET", "/volumes/by-name/v", nil, true)
	if st != 200 {
		t.Errorf("the applied create did not happen: %d", st)
	}
	if n := s.Count("POST /volumes"); n != 1 {
		t.Errorf("Count = %d", n)
	}
}

// The fault API's dropped connection after the request was applied, and its nth call.
func TestFakeDropAfterApplyAndNth(t *testing.T) {
	s := New(Options{APIKey: key, StepDelay: 10 * time.Millisecond, Root: t.TempDir()})
	t.Cleanup(s.Close)
	c := client{t, s}
	s.Faults().Add(harness.Fault{Route: "POST /volumes", Status: harness.Drop, AfterApply: true},
		harness.Fault{Route: "GET /volumes", Nth: 2, Status: http.StatusServiceUnavailable})
	req, err := http.NewRequestWithContext(t.Context(), "POST", s.URL()+"/volumes", strings.NewReader(`{"name":"dropped"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("a dropped connection answered %d", resp.StatusCode)
	}
	if st, _ := c.call("GET", "/volumes/by-name/dropped", nil, true); st != 200 {
		t.Errorf("the create whose answer was dropped did not happen: %d", st)
	}
	if st, _ := c.call("GET", "/volumes", nil, true); st != 200 {
		t.Errorf("first list (before the nth): %d", st)
	}
	if st, _ := c.call("GET", "/volumes", nil, true); st != http.StatusServiceUnavailable {
		t.Errorf("second list (the nth): %d, want 503", st)
	}
	if st, _ := c.call("GET", "/volumes", nil, true); st != 200 {
		t.Errorf("after the fault is spent: %d", st)
	}
}
