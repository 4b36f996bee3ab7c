package vercel

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/httpapi"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

func TestRunCommandStream(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	ctx := ctxFor(t, 10*time.Second)
	r, err := e.Client().GetSandbox(ctx, sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Client().RunCommand(ctx, r.Session.ID, CommandRequest{
		Command: "sh", Args: []string{"-c", `printf 'o1 '; printf 'e1 ' >&2; printf 'o2'; printf "$X" >&2; exit 5`},
		Env: map[string]string{"X": "e2"}, Logs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 5 || string(res.Stdout) != "o1 o2" || string(res.Stderr) != "e1 e2" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 5, %q, %q", res.ExitCode, res.Stdout, res.Stderr, "o1 o2", "e1 e2")
	}
	if res.Command.ID == "" || res.Command.SessionID != r.Session.ID || res.Command.Name != "sh" {
		t.Errorf("command = %+v", res.Command)
	}
	// Without logs only the exit code comes back.
	res, err = e.Client().RunCommand(ctx, r.Session.ID, CommandRequest{Command: "echo", Args: []string{"quiet"}})
	if err != nil || res.ExitCode != 0 || len(res.Stdout) != 0 {
		t.Errorf("without logs: %+v, %v", res, err)
	}
	// Output beyond MaxOutput is dropped and said so.
	res, err = e.Client().RunCommand(ctx, r.Session.ID, CommandRequest{Command: "sh", Args: []string{"-c", "printf 0123456789"}, Logs: true, MaxOutput: 4})
	if err != nil || string(res.Stdout) != "0123" || !res.Truncated {
		t.Errorf("MaxOutput 4: %q, truncated %v, %v", res.Stdout, res.Truncated, err)
	}
}

func TestRunCommandSessionStops(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	ctx := ctxFor(t, 10*time.Second)
	r, err := e.Client().GetSandbox(ctx, sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		f.StopSession(sb.ExternalID)
	}()
	_, err = e.Client().RunCommand(ctx, r.Session.ID, CommandRequest{Command: "sleep", Args: []string{"10"}, Logs: true})
	var se *StreamError
	if !errors.As(err, &se) || se.Code != "sandbox_stopped" {
		t.Fatalf("RunCommand while the session stops = %v, want a StreamError sandbox_stopped", err)
	}
	// Later calls on the old session: 410.
	_, err = e.Client().RunCommand(ctx, r.Session.ID, CommandRequest{Command: "true"})
	if StatusOf(err) != http.StatusGone && StatusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("RunCommand on a stopped session = %v, want 410 (or 422 while stopping)", err)
	}
}

func TestRunCommandCancelKills(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	r, err := e.Client().GetSandbox(ctxFor(t, 5*time.Second), sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = e.Client().RunCommand(ctxFor(t, 300*time.Millisecond), r.Session.ID, CommandRequest{Command: "sleep", Args: []string{"30"}})
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("RunCommand past its context = %v after %s", err, time.Since(start))
	}
	if n := f.Requests("POST /v2/sandboxes/sessions/{sessionId}/cmd/{cmdId}/kill"); n != 1 {
		t.Errorf("kill sent %d times, want 1", n)
	}
}

func TestFilesRaw(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	ctx := ctxFor(t, 10*time.Second)
	r, err := e.Client().GetSandbox(ctx, sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	sid := r.Session.ID
	data := []byte{0, 1, 2, 0xff, 0xfe, '\n'}
	if err := e.Client().WriteFiles(ctx, sid, []File{{Path: "/vercel/sandbox/deep/er/bin.dat", Content: data, Mode: 0o755}, {Path: "/vercel/sandbox/two.txt", Content: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	got, err := e.Client().ReadFile(ctx, sid, "/vercel/sandbox/deep/er/bin.dat")
	if err != nil || string(got) != string(data) {
		t.Errorf("ReadFile = %v, %v", got, err)
	}
	res, err := e.Client().RunCommand(ctx, sid, CommandRequest{Command: "sh", Args: []string{"-c", "test -x deep/er/bin.dat && cat two.txt"}, Logs: true})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "2" {
		t.Errorf("mode and second file: %+v, %v", res, err)
	}
	_, err = e.Client().ReadFile(ctx, sid, "/vercel/sandbox/nope")
	if !errors.Is(err, ErrFileNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want ErrFileNotFound", err)
	}
	if err := e.Client().Mkdir(ctx, sid, "/vercel/sandbox/m/n", true); err != nil {
		t.Errorf("Mkdir recursive: %v", err)
	}
	if err := e.Client().Mkdir(ctx, sid, "/vercel/sandbox/p/q", false); StatusOf(err) != http.StatusBadRequest {
		t.Errorf("Mkdir without recursive and no parent = %v, want 400", err)
	}
}

func TestAPIErrorWording(t *testing.T) {
	e := &APIError{Method: "GET", Path: "/v2/sandboxes/x", Status: 404, Code: "not_found", Message: "Vercel Sandbox not found."}
	if got, want := e.Error(), "vercel: GET /v2/sandboxes/x: 404 Not Found (not_found): Vercel Sandbox not found."; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !strings.Contains((&APIError{Status: 403}).Error(), EnvToken) {
		t.Errorf("a 403 does not point at the token")
	}
}

// The one status mapping: a 404 of one sandbox or snapshot is backend.ErrNotFound; a 404 of a list or a create
// (a wrong project) or under a session (a missing file) must not be, or records would be closed; 401 and 403
// name the token's variables.
func TestAPIErrorStatusMapping(t *testing.T) {
	for path, want := range map[string]bool{
		"/v2/sandboxes/x": true, "/v2/sandboxes/snapshots/snap_1": true,
		"/v2/sandboxes": false, "/v3/sandboxes": false, "/v2/sandboxes/snapshots": false,
		"/v2/sandboxes/sessions/s1/fs/read": false, "/v2/sandboxes/sessions/s1": false,
	} {
		err := error(&APIError{Method: "GET", Path: path, Status: http.StatusNotFound})
		if got := errors.Is(err, backend.ErrNotFound); got != want {
			t.Errorf("404 of %s: errors.Is(ErrNotFound) = %v, want %v", path, got, want)
		}
	}
	for _, st := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		err := error(&APIError{Method: "GET", Path: "/v2/sandboxes", Status: st})
		if !errors.Is(err, httpapi.ErrUnauthorized) || !strings.Contains(err.Error(), EnvToken) || !strings.Contains(err.Error(), EnvOIDCToken) {
			t.Errorf("%d: %v does not wrap ErrUnauthorized or name %s and %s", st, err, EnvToken, EnvOIDCToken)
		}
	}
}

// Retry-After is read in seconds (fractions too) or as an HTTP date, and a delay longer than MaxRetryAfter
// ends the call at once instead of holding the apply for as long as the service asks.
func TestRetryAfterParsedAndCapped(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f, func(c *Config) { c.RetryBaseDelay, c.RetryMaxDelay = time.Millisecond, 2*time.Millisecond })
	for _, ra := range []string{"0.6", time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)} {
		f.Faults().Add(harness.Fault{Route: "GET /v2/sandboxes/{name}", Status: 429, RetryAfter: ra})
		start := time.Now()
		_, err := e.GetSandbox(t.Context(), "sbx-none")
		if StatusOf(err) != http.StatusNotFound {
			t.Fatalf("GetSandbox after a 429 = %v, want the retry's 404", err)
		}
		if took := time.Since(start); took < 500*time.Millisecond {
			t.Errorf("Retry-After %q: the retry came after %s, sooner than asked", ra, took)
		}
	}
	// No deadline, and the service asks for an hour: not waited for.
	f.Faults().Add(harness.Fault{Route: "GET /v2/sandboxes/{name}", Status: 429, RetryAfter: "3600"})
	before := f.Requests("GET /v2/sandboxes/{name}")
	_, err := e.GetSandbox(context.Background(), "sbx-none")
	if StatusOf(err) != http.StatusTooManyRequests || !strings.Contains(err.Error(), "asks to wait 1h0m0s") {
		t.Fatalf("GetSandbox = %v, want the 429 and the cap named", err)
	}
	if n := f.Requests("GET /v2/sandboxes/{name}") - before; n != 1 {
		t.Errorf("sent %d times, want 1", n)
	}
}
