package daytona

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// mustCreate makes a sandbox for a new record and deletes it at the end of the test.
func mustCreate(t *testing.T, e *Engine, spec backend.SandboxSpec) *backend.Sandbox {
	t.Helper()
	if spec.RecordID == "" {
		spec.RecordID = backend.NewID()
	}
	sb, err := e.CreateSandbox(ctxFor(t, 30*time.Second), spec)
	if err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := e.DeleteSandbox(context.Background(), sb.ExternalID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return sb
}

func TestNewNeedsCredentials(t *testing.T) {
	_, err := New(Config{})
	if err == nil || !strings.Contains(err.Error(), "DAYTONA_API_KEY") || !strings.Contains(err.Error(), "DAYTONA_JWT_TOKEN") ||
		!strings.Contains(err.Error(), "DAYTONA_ORGANIZATION_ID") {
		t.Errorf("New without a key = %v; want an error naming DAYTONA_API_KEY, DAYTONA_JWT_TOKEN and DAYTONA_ORGANIZATION_ID", err)
	}
	_, err = New(Config{JWTToken: "jwt"})
	if err == nil || !strings.Contains(err.Error(), "DAYTONA_ORGANIZATION_ID") {
		t.Errorf("New with a JWT and no organization = %v; want an error naming DAYTONA_ORGANIZATION_ID", err)
	}
	if _, err := New(Config{APIKey: "k", APIURL: "ftp://x"}); err == nil {
		t.Errorf("New with an ftp URL = nil error")
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("DAYTONA_API_KEY", "k1")
	t.Setenv("DAYTONA_API_URL", "")
	t.Setenv("DAYTONA_SERVER_URL", "https://old.example/api")
	t.Setenv("DAYTONA_TARGET", "eu")
	c := ConfigFromEnv()
	if c.APIKey != "k1" || c.APIURL != "https://old.example/api" || c.Target != "eu" {
		t.Errorf("ConfigFromEnv = %+v", c)
	}
}

func TestJWTAuthSendsOrganization(t *testing.T) {
	f := daytonafake.New(daytonafake.Options{APIKey: testKey, JWT: "jwt-token-xyz", OrganizationID: "org-1", Root: t.TempDir()})
	t.Cleanup(f.Close)
	e := newEngine(t, f, func(c *Config) { c.APIKey, c.JWTToken, c.OrganizationID = "", "jwt-token-xyz", "org-1" })
	if _, err := e.ListSandboxes(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatalf("ListSandboxes with a JWT and its organization: %v", err)
	}
	e = newEngine(t, f, func(c *Config) { c.APIKey, c.JWTToken, c.OrganizationID = "", "jwt-token-xyz", "org-2" })
	if _, err := e.ListSandboxes(ctxFor(t, 5*time.Second)); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("ListSandboxes with the wrong organization = %v, want ErrUnauthorized", err)
	}
}

func TestUnauthorizedNamesTheKeyButNeverShowsIt(t *testing.T) {
	f := newFake(t)
	wrong := "dtn_wrong_key_that_must_not_leak_42"
	e := newEngine(t, f, func(c *Config) { c.APIKey = wrong })
	_, err := e.CreateSandbox(ctxFor(t, 5*time.Second), backend.SandboxSpec{RecordID: backend.NewID()})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("CreateSandbox with a wrong key = %v, want ErrUnauthorized", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "DAYTONA_API_KEY") || !strings.Contains(msg, "401") {
		t.Errorf("error %q: want the status and DAYTONA_API_KEY", msg)
	}
	if strings.Contains(msg, wrong) {
		t.Errorf("error %q shows the key", msg)
	}
	if n := f.Count("POST /sandbox"); n != 1 {
		t.Errorf("a 401 was tried %d times, want once (not retried)", n)
	}
}

// The one status mapping: a 403 names the credentials' variables as a 401 does; a 404 of the main API is
// backend.ErrNotFound; a toolbox 404 (a missing file) is not, or a read of a missing file would close the
// sandbox's record.
func TestStatusMapping(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	f.Faults().Add(harness.Fault{Route: "GET /sandbox", Status: http.StatusForbidden, Body: `{"statusCode":403,"message":"Forbidden resource","error":"Forbidden"}`})
	_, err := e.ListSandboxes(ctxFor(t, 5*time.Second))
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "DAYTONA_API_KEY") || !strings.Contains(err.Error(), "Forbidden resource") {
		t.Errorf("a 403 = %v, want ErrUnauthorized, the service's message and DAYTONA_API_KEY", err)
	}
	if _, err := e.GetSandbox(ctxFor(t, 5*time.Second), "no-such-sandbox"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSandbox of a missing sandbox = %v, want backend.ErrNotFound", err)
	}
	toolbox404 := &APIError{Method: "GET", Path: "toolbox/x/files/download", Status: http.StatusNotFound, Toolbox: true}
	if errors.Is(toolbox404, backend.ErrNotFound) {
		t.Errorf("a toolbox 404 reads as a missing sandbox")
	}
}

func TestErrorsRedactTheKey(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	f.Faults().Add(harness.Fault{Route: "GET /sandbox/{id}", Status: http.StatusBadRequest,
		Body: `{"statusCode":400,"error":"Bad Request","message":"token ` + testKey + ` is odd"}`})
	_, err := e.GetSandbox(ctxFor(t, 5*time.Second), "some-id")
	if err == nil || strings.Contains(err.Error(), testKey) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("GetSandbox = %v; want the service's message with the key redacted", err)
	}
	if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "HTTP 400") {
		t.Errorf("error %v: want HTTP 400 in it", err)
	}
}

func TestRetry429HonoursRetryAfter(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	f.Faults().Add(harness.Fault{Route: "POST /sandbox", Status: http.StatusTooManyRequests, RetryAfter: "1"})
	start := time.Now()
	sb := mustCreate(t, e, backend.SandboxSpec{})
	if took := time.Since(start); took < time.Second {
		t.Errorf("create after a 429 with Retry-After-authenticated: 1 took %s, want at least 1s", took)
	}
	if n := f.Count("POST /sandbox"); n != 2 {
		t.Errorf("POST /sandbox sent %d times, want 2 (429, then success)", n)
	}
	if sb.State != backend.StateRunning {
		t.Errorf("state %s", sb.State)
	}
}

func TestRetry500GivesUpInBoundedTime(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f, func(c *Config) { c.MaxRetries = 3 })
	f.Faults().Add(harness.Fault{Route: "GET /sandbox/{id}", Status: http.StatusInternalServerError, Times: 100})
	start := time.Now()
	_, err := e.GetSandbox(ctxFor(t, 10*time.Second), "x")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "gave up after 4 attempts") || !strings.Contains(err.Error(), "HTTP 500") ||
		!strings.Contains(err.Error(), "An unexpected error occurred.") {
		t.Fatalf("GetSandbox under 500s = %v; want a clear error after 4 attempts with the service's message", err)
	}
	if took > 3*time.Second {
		t.Errorf("giving up took %s", took)
	}
	if n := f.Count("GET /sandbox/{id}"); n != 4 {
		t.Errorf("%d attempts, want 4", n)
	}

	// With a deadline shorter than the backoff, it stops at the deadline instead.
	e = newEngine(t, f, func(c *Config) { c.MaxRetries = 50; c.RetryBase = 300 * time.Millisecond })
	start = time.Now()
	_, err = e.GetSandbox(ctxFor(t, 500*time.Millisecond), "x")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("GetSandbox under 500s with a 500ms deadline = %v after %s; want DeadlineExceeded, promptly", err, time.Since(start))
	}
}

func TestCreateAppliedThenFailedAdoptsTheSandbox(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	f.Faults().Add(harness.Fault{Route: "POST /sandbox", Status: http.StatusBadGateway, AfterApply: true})
	rid := backend.NewID()
	sb := mustCreate(t, e, backend.SandboxSpec{RecordID: rid})
	list, err := e.listSandboxes(ctxFor(t, 5*time.Second), map[string]string{LabelRecordID: rid})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != sb.ExternalID {
		t.Errorf("after a create whose answer was lost: %d sandboxes for the record, want exactly the one returned", len(list))
	}
	if n := f.Count("POST /sandbox"); n != 2 {
		t.Errorf("POST /sandbox sent %d times, want 2", n)
	}
}

func TestExecIsNotRetriedAfterAppliedFailure(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	sb := mustCreate(t, e, backend.SandboxSpec{})
	f.Faults().Add(harness.Fault{Route: "POST /toolbox/{id}/process/execute", Status: http.StatusBadGateway, AfterApply: true})
	ctx := ctxFor(t, 10*time.Second)
	if _, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "echo ran >> count.txt"}}); err == nil {
		t.Fatal("Exec answered 502 = nil error")
	}
	b, err := e.ReadFile(ctx, sb.ExternalID, "count.txt")
	if err != nil || string(b) != "ran\n" {
		t.Errorf("count.txt = %q, %v; the command must have run exactly once", b, err)
	}
	// A 429 proves the command did not run: it is retried.
	f.Faults().Add(harness.Fault{Route: "POST /toolbox/{id}/process/execute", Status: http.StatusTooManyRequests})
	res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"echo", "ok"}})
	if err != nil || string(res.Stdout) != "ok\n" {
		t.Errorf("Exec after a 429 = %v, %v", res, err)
	}
}

func TestStuckStartingFailsAtDeadlineAndIsFound(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	rid := backend.NewID()
	f.SetHold(func(l map[string]string) bool { return l[LabelRecordID] == rid })
	start := time.Now()
	_, err := e.CreateSandbox(ctxFor(t, time.Second), backend.SandboxSpec{RecordID: rid})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("CreateSandbox of a sandbox stuck in starting = %v; want a deadline error naming the state", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("it took %s to give up", took)
	}
	ctx := ctxFor(t, 10*time.Second)
	found, err := e.FindSandbox(ctx, rid)
	if err != nil || found.State != backend.StateStarting || found.RecordID != rid {
		t.Fatalf("FindSandbox of the half-made sandbox = %+v, %v; want it, starting", found, err)
	}
	f.Release()
	if err := e.DeleteSandbox(ctx, found.ExternalID); err != nil {
		t.Fatalf("DeleteSandbox after release: %v", err)
	}
	if _, err := e.FindSandbox(ctx, rid); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("FindSandbox after delete = %v, want ErrNotFound", err)
	}
}

func TestPollingBacksOff(t *testing.T) {
	f := daytonafake.New(daytonafake.Options{APIKey: testKey, StepDelay: 400 * time.Millisecond, Root: t.TempDir()})
	t.Cleanup(f.Close)
	e := newEngine(t, f, func(c *Config) { c.PollInitial, c.PollMax = 20*time.Millisecond, 300*time.Millisecond })
	mustCreate(t, e, backend.SandboxSpec{})
	var gets []time.Time
	for _, r := range f.Requests() {
		if r.Route == "GET /sandbox/{id}" {
			gets = append(gets, r.Time)
		}
	}
	// The create takes two steps (800ms); polling from 20ms, x1.5, capped at 300ms needs about a dozen reads;
	// a fixed 20ms poll would need 40.
	if len(gets) < 3 || len(gets) > 16 {
		t.Fatalf("%d reads while waiting for a 800ms create, want between 3 and 16", len(gets))
	}
	first, last := gets[1].Sub(gets[0]), gets[len(gets)-1].Sub(gets[len(gets)-2])
	if last <= first {
		t.Errorf("poll intervals did not grow: first %s, last %s", first, last)
	}
}

func TestListFollowsCursors(t *testing.T) {
	old := listPageSize
	listPageSize = 2
	t.Cleanup(func() { listPageSize = old })
	f := newFake(t)
	e := newEngine(t, f)
	want := map[string]bool{}
	for range 5 {
		want[mustCreate(t, e, backend.SandboxSpec{}).ExternalID] = true
	}
	list, err := e.ListSandboxes(ctxFor(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, sb := range list {
		delete(want, sb.ExternalID)
	}
	if len(want) != 0 || len(list) != 5 {
		t.Errorf("ListSandboxes over pages of 2: %d listed, missing %v", len(list), want)
	}
	if n := f.Count("GET /sandbox"); n != 3 {
		t.Errorf("%d list requests for 5 sandboxes in pages of 2, want 3", n)
	}
}

func TestArchivedIsNotGone(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	ctx := ctxFor(t, 30*time.Second)
	sb := mustCreate(t, e, backend.SandboxSpec{})
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := e.action(ctx, sb.ExternalID, "archive"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.drive(ctx, sb.ExternalID, "archived", nil, func(d *sandboxDTO) (bool, error) { return d != nil && d.State == stArchived, nil }, nil); err != nil {
		t.Fatal(err)
	}
	got, err := e.GetSandbox(ctx, sb.ExternalID)
	if err != nil || got.State != backend.StateArchived {
		t.Fatalf("GetSandbox of an archived sandbox = %+v, %v; want it, archived", got, err)
	}
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Errorf("StopSandbox of an archived sandbox = %v, want nil (it is not running)", err)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatalf("StartSandbox of an archived sandbox: %v", err)
	}
	if got, err := e.GetSandbox(ctx, sb.ExternalID); err != nil || got.State != backend.StateRunning {
		t.Errorf("after start: %+v, %v", got, err)
	}
}

func TestDeleteAppliedThenFailed(t *testing.T) {
	f := newFake(t)
	// The engine's default cadence (the official client's): first read after 250 ms.
	e := newEngine(t, f, func(c *Config) { c.PollInitial, c.PollMax = 0, 0 })
	ctx := ctxFor(t, 30*time.Second)
	sb, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	f.Faults().Add(harness.Fault{Route: "DELETE /sandbox/{id}", Status: http.StatusInternalServerError, AfterApply: true})
	if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatalf("DeleteSandbox whose answer was lost: %v", err)
	}
	if _, err := e.GetSandbox(ctx, sb.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSandbox after delete = %v", err)
	}
}

// A create sends what the official client sends: the POST, then reads only after the first pause (the POST's
// answer is the first observation), until the sandbox has started.
func TestCreateRequests(t *testing.T) {
	f := newFake(t)
	// The engine's default cadence (the official client's): first read after 250 ms.
	e := newEngine(t, f, func(c *Config) { c.PollInitial, c.PollMax = 0, 0 })
	ctx := ctxFor(t, 30*time.Second)
	sb, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.DeleteSandbox(context.Background(), sb.ExternalID) })
	if n := f.Count("POST /sandbox"); n != 1 {
		t.Errorf("POST /sandbox sent %d times, want 1", n)
	}
	// The fake starts a sandbox well within the first pause (250 ms): one read says it has started.
	if n := f.Count("GET /sandbox/{id}"); n != 1 {
		t.Errorf("GET /sandbox/{id} sent %d times, want 1 (no read right after the create)", n)
	}
}
