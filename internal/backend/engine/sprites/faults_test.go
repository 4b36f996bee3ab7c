package sprites_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// createSandbox makes a sandbox and deletes it at the end of the test.
func createSandbox(t *testing.T, e *sprites.Engine, spec backend.SandboxSpec) *backend.Sandbox {
	t.Helper()
	if spec.RecordID == "" {
		spec.RecordID = backend.NewID()
	}
	sb, err := e.CreateSandbox(t.Context(), spec)
	if err != nil {
		t.Fatalf("CreateSandbox: %v", err)
	}
	t.Cleanup(func() {
		if err := e.DeleteSandbox(context.Background(), sb.ExternalID); err != nil {
			t.Errorf("cleanup: DeleteSandbox(%s): %v", sb.ExternalID, err)
		}
	})
	return sb
}

func TestRateLimitedThenSuccess(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	f.Faults().Add(spritesfake.RateLimited("POST /v1/sprites", 1))
	start := time.Now()
	sb := createSandbox(t, e, backend.SandboxSpec{})
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("create after a 429 with retry_after_seconds=1 took %s; the client did not wait", took)
	}
	if n := f.Count("POST /v1/sprites"); n != 2 {
		t.Errorf("POST /v1/sprites was sent %d times; want 2 (429, then the retry)", n)
	}
	if sb.State != backend.StateRunning {
		t.Errorf("state = %q", sb.State)
	}
}

func TestRetryAfterHeaderOnly(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	h := http.Header{}
	h.Set("Retry-After", "1")
	f.Faults().Add(harness.Fault{Route: "GET /v1/sprites/{name}", Status: http.StatusTooManyRequests, Body: "slow down", Header: h})
	start := time.Now()
	if _, err := e.GetSandbox(t.Context(), sb.ExternalID); err != nil {
		t.Fatalf("GetSandbox after a 429: %v", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("GetSandbox after a 429 with Retry-After: 1 took %s; the client did not wait", took)
	}
}

func TestServerErrorsUntilRetriesRunOut(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f, func(c *sprites.Config) { c.MaxRetries = 3 })
	sb := createSandbox(t, e, backend.SandboxSpec{})
	before := f.Count("GET /v1/sprites/{name}")
	f.Faults().Add(harness.Fault{Route: "GET /v1/sprites/{name}", Times: 100, Status: http.StatusInternalServerError, Body: `{"errors":["database is unavailable"]}`})
	start := time.Now()
	_, err := e.GetSandbox(t.Context(), sb.ExternalID)
	took := time.Since(start)
	f.Faults().Clear()
	if err == nil {
		t.Fatal("GetSandbox with a failing API = nil error")
	}
	for _, want := range []string{"HTTP 500", "database is unavailable", "after 4 attempts", sb.ExternalID} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if errors.Is(err, backend.ErrNotFound) {
		t.Errorf("a 500 reads as not found: %v", err)
	}
	if n := f.Count("GET /v1/sprites/{name}") - before; n != 4 {
		t.Errorf("GET sent %d times; want 4 (MaxRetries 3)", n)
	}
	if took > 5*time.Second {
		t.Errorf("retries took %s", took)
	}
	var apiErr *sprites.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 500 || apiErr.Attempts != 4 {
		t.Errorf("error is not an *APIError with status 500 and 4 attempts: %#v", apiErr)
	}
}

func TestRetriesStopAtTheDeadline(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	rl := spritesfake.RateLimited("GET /v1/sprites/{name}", 5)
	rl.Times = 100
	f.Faults().Add(rl)
	defer f.Faults().Clear()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.GetSandbox(ctx, sb.ExternalID)
	if err == nil || !errors.Is(err, sprites.ErrRateLimited) {
		t.Fatalf("GetSandbox under a 5 s rate limit with a 0.5 s deadline = %v; want an error wrapping ErrRateLimited", err)
	}
	if took := time.Since(start); took > 300*time.Millisecond {
		t.Errorf("gave up after %s; it should not wait for a retry that cannot start before the deadline", took)
	}
	if !strings.Contains(err.Error(), "deadline") || !strings.Contains(err.Error(), "sprite_creation_rate_limited") {
		t.Errorf("error %q should say that the retry would pass the deadline, and give the API's code", err)
	}
}

func TestConnectionErrorsAreRetriedThenReported(t *testing.T) {
	e, err := sprites.New(sprites.Config{Token: "tok-conn-secret", APIURL: "http://127.0.0.1:1", MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.GetSandbox(t.Context(), "ekairos-x")
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("GetSandbox on a closed port = %v; want the connection error after 3 attempts", err)
	}
	if strings.Contains(err.Error(), "tok-conn-secret") {
		t.Errorf("the token shows in %q", err)
	}
}

func TestUnauthorizedNamesTheEnvVar(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e, err := sprites.New(sprites.Config{Token: "org/1/2/wrong-secret-token", APIURL: f.URL()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: backend.NewID()})
	if err == nil {
		t.Fatal("CreateSandbox with a wrong token = nil error")
	}
	if !errors.Is(err, sprites.ErrUnauthorized) {
		t.Errorf("error %v does not wrap ErrUnauthorized", err)
	}
	for _, want := range []string{"HTTP 401", "SPRITES_API_TOKEN", "SPRITE_TOKEN", "SPRITES_TOKEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "wrong-secret-token") {
		t.Errorf("the token shows in %q", err)
	}
	if n := f.Count("POST /v1/sprites"); n != 1 {
		t.Errorf("a 401 was sent %d times; it must not be retried", n)
	}
}

func TestMissingToken(t *testing.T) {
	for _, k := range []string{sprites.EnvToken, sprites.EnvTokenAlt, sprites.EnvTokenAlt2} {
		t.Setenv(k, "")
	}
	_, err := sprites.New(sprites.Config{})
	if !errors.Is(err, sprites.ErrMissingToken) {
		t.Fatalf("New without a token = %v; want ErrMissingToken", err)
	}
	for _, want := range []string{"SPRITES_API_TOKEN", "SPRITE_TOKEN", "SPRITES_TOKEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// Each variable is read, SPRITES_API_TOKEN first.
	f := spritesfake.Start(t, spritesfake.Options{})
	for _, k := range []string{sprites.EnvTokenAlt2, sprites.EnvTokenAlt, sprites.EnvToken} {
		t.Setenv(k, f.Token())
		e, err := sprites.New(sprites.Config{APIURL: f.URL()})
		if err != nil {
			t.Fatalf("New with %s set: %v", k, err)
		}
		if _, err := e.ListSandboxes(t.Context()); err != nil {
			t.Errorf("ListSandboxes with the token from %s: %v", k, err)
		}
	}
	t.Setenv(sprites.EnvTokenAlt2, "wrong")
	t.Setenv(sprites.EnvToken, f.Token())
	e, err := sprites.New(sprites.Config{APIURL: f.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.ListSandboxes(t.Context()); err != nil {
		t.Errorf("SPRITES_API_TOKEN does not win over SPRITES_TOKEN: %v", err)
	}
}

func TestAPIURLDefaultsAndEnv(t *testing.T) {
	t.Setenv(sprites.EnvAPIURL, "")
	t.Setenv(sprites.EnvAPIURLAlt, "")
	c, err := sprites.NewClient(sprites.Config{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIURL() != sprites.DefaultAPIURL || sprites.DefaultAPIURL != "https://api.sprites.dev" {
		t.Errorf("default API URL = %q", c.APIURL())
	}
	t.Setenv(sprites.EnvAPIURLAlt, "https://alt.example")
	if c, _ = sprites.NewClient(sprites.Config{Token: "t"}); c.APIURL() != "https://alt.example" {
		t.Errorf("API URL from %s = %q", sprites.EnvAPIURLAlt, c.APIURL())
	}
	t.Setenv(sprites.EnvAPIURL, "https://main.example/")
	if c, _ = sprites.NewClient(sprites.Config{Token: "t"}); c.APIURL() != "https://main.example" {
		t.Errorf("API URL from %s = %q", sprites.EnvAPIURL, c.APIURL())
	}
	for _, bad := range []string{"ftp://x", "not a url", "https://x?token=1"} {
		if _, err := sprites.NewClient(sprites.Config{Token: "t", APIURL: bad}); err == nil {
			t.Errorf("NewClient with API URL %q = nil error", bad)
		}
	}
}

func TestErrorBodyShapes(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f, func(c *sprites.Config) { c.MaxRetries = -1 })
	sb := createSandbox(t, e, backend.SandboxSpec{})
	for _, tc := range []struct {
		status int
		body   string
		want   []string
	}{
		{400, `{"error":"bad_request","message":"labels must be strings"}`, []string{"HTTP 400", "bad_request", "labels must be strings"}},
		{422, `{"errors":["invalid wait_for_capacity parameter","name too long"]}`, []string{"HTTP 422", "invalid wait_for_capacity parameter; name too long"}},
		{503, "upstream connect error\n", []string{"HTTP 503", "upstream connect error"}},
		{403, `{"error":"forbidden"}`, []string{"HTTP 403", "forbidden", "SPRITES_API_TOKEN"}},
	} {
		f.Faults().Add(harness.Fault{Route: "GET /v1/sprites/{name}", Status: tc.status, Body: tc.body})
		_, err := e.GetSandbox(t.Context(), sb.ExternalID)
		if err == nil {
			t.Errorf("HTTP %d: nil error", tc.status)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("HTTP %d: error %q does not contain %q", tc.status, err, w)
			}
		}
	}
	f.Faults().Clear()
	// The 404 shapes: a missing sprite is backend.ErrNotFound; a missing file is not.
	if _, err := e.GetSandbox(t.Context(), "no-such-sprite"); !errors.Is(err, backend.ErrNotFound) || !strings.Contains(err.Error(), "sprite not found") {
		t.Errorf("GetSandbox of a missing sprite = %v", err)
	}
}

func TestExecDropBeforeExitFrame(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	f.Faults().Add(harness.Fault{Route: "WS /v1/sprites/{name}/exec", Extra: spritesfake.DropExec{}})
	res, err := e.Exec(t.Context(), sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "echo partial; exit 0"}})
	if err == nil {
		t.Fatalf("Exec over a dropped socket = %+v, nil error; want an error (the exit code is unknown, not 0)", res)
	}
	if !errors.Is(err, sprites.ErrExecInterrupted) {
		t.Errorf("error %v does not wrap ErrExecInterrupted", err)
	}
	if res != nil {
		t.Errorf("Exec returned a result %+v with its error", res)
	}
	log := f.ExecLog(sb.ExternalID)
	if len(log) == 0 || log[len(log)-1].Argv[0] != "sh" {
		t.Errorf("the command did not run in the fake: %+v", log)
	}
	// The next command works.
	res, err = e.Exec(t.Context(), sb.ExternalID, backend.ExecRequest{Argv: []string{"echo", "after"}})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "after\n" {
		t.Errorf("Exec after the drop = %+v, %v", res, err)
	}
}

func TestExecHandshakeRetried(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	f.Faults().Add(harness.Fault{Route: "WS /v1/sprites/{name}/exec", Times: 2, Status: http.StatusBadGateway, Body: "bad gateway"})
	res, err := e.Exec(t.Context(), sb.ExternalID, backend.ExecRequest{Argv: []string{"echo", "ok"}})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "ok\n" {
		t.Fatalf("Exec after two 502 handshakes = %+v, %v", res, err)
	}
	if n := f.Count("WS /v1/sprites/{name}/exec"); n != 3 {
		t.Errorf("handshakes: %d; want 3", n)
	}
	if log := f.ExecLog(sb.ExternalID); len(log) != 1 {
		t.Errorf("the command ran %d times; a failed handshake must not run it", len(log))
	}
}

func TestCheckpointErrorInside200(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	f.Faults().Add(harness.Fault{Route: "POST /v1/sprites/{name}/checkpoint", Extra: spritesfake.StreamError("no space left on device")})
	_, err := e.Checkpoint(t.Context(), sb.ExternalID, "will fail")
	if !errors.Is(err, sprites.ErrOperationFailed) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("Checkpoint with an error line in a 200 = %v; want ErrOperationFailed with the stream's message", err)
	}
	if n := f.Count("POST /v1/sprites/{name}/checkpoint"); n != 1 {
		t.Errorf("an error reported inside a 200 was retried (%d calls)", n)
	}
	if info, _ := f.Sprite(sb.ExternalID); len(info.Checkpoints) != 0 {
		t.Errorf("the failed checkpoint exists: %+v", info.Checkpoints)
	}
	id, err := e.Checkpoint(t.Context(), sb.ExternalID, "works")
	if err != nil || id == "" {
		t.Fatalf("Checkpoint after the failure = %q, %v", id, err)
	}
	f.Faults().Add(harness.Fault{Route: "POST /v1/sprites/{name}/checkpoints/{id}/restore", Extra: spritesfake.StreamError("restore exploded")})
	if err := e.Restore(t.Context(), sb.ExternalID, id); !errors.Is(err, sprites.ErrOperationFailed) || !strings.Contains(err.Error(), "restore exploded") {
		t.Errorf("Restore with an error line in a 200 = %v", err)
	}
	if err := e.Restore(t.Context(), sb.ExternalID, "v404"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Restore to an unknown checkpoint = %v; want ErrNotFound", err)
	}
}

// TestSecretsNeverInErrorsOrViews checks that the token and env values appear in no error and no view,
// including errors that echo the request.
func TestSecretsNeverInErrorsOrViews(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	token := f.Token()
	secret := "env-secret-" + backend.NewID()
	sb := createSandbox(t, e, backend.SandboxSpec{Env: map[string]string{"API_KEY": secret}})
	var errs []error
	// A body that echoes the token.
	f.Faults().Add(harness.Fault{Route: "GET /v1/sprites/{name}", Status: 400, Body: fmt.Sprintf(`{"error":"bad","message":"token %s rejected"}`, token)})
	_, err := e.GetSandbox(t.Context(), sb.ExternalID)
	errs = append(errs, err)
	// Exec handshake failures carry env values in the URL; the error must not.
	f.Faults().Add(harness.Fault{Route: "WS /v1/sprites/{name}/exec", Times: 100, Status: 400, Body: "bad request " + secret})
	_, err = e.Exec(t.Context(), sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}, Env: map[string]string{"OTHER": secret}})
	errs = append(errs, err)
	f.Faults().Clear()
	// A transport error of an exec (server gone mid-way is hard to script; use an unreachable API URL).
	e2, _ := sprites.New(sprites.Config{Token: token, APIURL: "http://127.0.0.1:1", MaxRetries: -1})
	_, err = e2.Exec(t.Context(), sb.ExternalID, backend.ExecRequest{Argv: []string{"true"}, Env: map[string]string{"K": secret}})
	errs = append(errs, err)
	_, err = e2.Client().Exec(t.Context(), sb.ExternalID, sprites.ExecOptions{Argv: []string{"true"}, Env: map[string]string{"K": secret}})
	errs = append(errs, err)
	c := e.Client()
	_, err = c.Exec(t.Context(), "no-such-sprite", sprites.ExecOptions{Argv: []string{"true"}, Env: map[string]string{"K": secret}})
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: nil error", i)
			continue
		}
		t.Logf("case %d: %v", i, err)
		if strings.Contains(err.Error(), token) {
			t.Errorf("case %d: the token shows in %q", i, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("case %d: an env value shows in %q", i, err)
		}
		if strings.Contains(err.Error(), "tok-0/fake-sprites-secret") {
			t.Errorf("case %d: part of the token shows in %q", i, err)
		}
	}
	// The views never hold env values or the token.
	got, err := e.GetSandbox(t.Context(), sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []*backend.Sandbox{sb, got} {
		b, _ := json.Marshal(v)
		if strings.Contains(string(b), secret) || strings.Contains(string(b), token) {
			t.Errorf("a secret shows in the sandbox view %s", b)
		}
	}
	info, _ := f.Sprite(sb.ExternalID)
	for _, l := range info.Labels {
		if strings.Contains(l, secret) {
			t.Errorf("a secret shows in label %q", l)
		}
	}
}

// TestPlainTextFileNotFound: in-sprite endpoints may answer a plain-text 404; a missing file in an existing
// sprite must still not read as a missing sprite.
func TestPlainTextFileNotFound(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	f.Faults().Add(harness.Fault{Route: "GET /v1/sprites/{name}/fs/read", Status: 404, Body: "open /home/sprite/x: no such file or directory\n"})
	_, err := e.ReadFile(t.Context(), sb.ExternalID, "x")
	if err == nil || errors.Is(err, backend.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile with a plain-text 404 = %v; want fs.ErrNotExist, not ErrNotFound", err)
	}
	f.Faults().Add(harness.Fault{Route: "GET /v1/sprites/{name}/fs/read", Status: 404, Body: "not found"})
	if _, err := e.ReadFile(t.Context(), "gone-sprite", "x"); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("ReadFile in a missing sprite = %v; want ErrNotFound", err)
	}
}

// A checkpoint POST whose answer is a 5xx although the checkpoint was made is never sent again: the client
// lists the checkpoints, finds the one it made and returns it (one checkpoint, not two).
func TestCheckpointPostNotRetriedWhenItWentThrough(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	f.Faults().Add(harness.Fault{Route: "POST /v1/sprites/{name}/checkpoint", Status: http.StatusBadGateway, AfterApply: true})
	id, err := e.Checkpoint(t.Context(), sb.ExternalID, "after build")
	if err != nil {
		t.Fatalf("Checkpoint after a 502 that went through: %v", err)
	}
	if n := f.Count("POST /v1/sprites/{name}/checkpoint"); n != 1 {
		t.Errorf("checkpoint POST sent %d times; want 1 (it went through: a retry makes a second checkpoint)", n)
	}
	info, _ := f.Sprite(sb.ExternalID)
	if len(info.Checkpoints) != 1 || info.Checkpoints[0].ID != id {
		t.Errorf("checkpoints %+v; want exactly the one returned, %s", info.Checkpoints, id)
	}
}

// A checkpoint POST that failed without effect is sent again once the list shows no new checkpoint.
func TestCheckpointPostRetriedWhenItDidNotGoThrough(t *testing.T) {
	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	f.Faults().Add(harness.Fault{Route: "POST /v1/sprites/{name}/checkpoint", Status: http.StatusServiceUnavailable})
	id, err := e.Checkpoint(t.Context(), sb.ExternalID, "")
	if err != nil {
		t.Fatalf("Checkpoint after a 503: %v", err)
	}
	if n := f.Count("POST /v1/sprites/{name}/checkpoint"); n != 2 {
		t.Errorf("checkpoint POST sent %d times; want 2 (the 503, then the retry after the check)", n)
	}
	if info, _ := f.Sprite(sb.ExternalID); len(info.Checkpoints) != 1 || info.Checkpoints[0].ID != id {
		t.Errorf("checkpoints %+v; want one, %s", info.Checkpoints, id)
	}
}

// Requests per create, as BENCHMARKS.md lists them: the official client sends one POST; the engine sends
// exactly that when nothing differs from the API's defaults (policy allow_all, no env), and one request per
// thing the API does not do by itself: the deny-all default policy, the state file for env.
func TestCreateRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec backend.SandboxSpec
		want map[string]int
	}{
		{"allow_all", backend.SandboxSpec{Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}},
			map[string]int{"POST /v1/sprites": 1}},
		{"default deny_all", backend.SandboxSpec{},
			map[string]int{"POST /v1/sprites": 1, "POST /v1/sprites/{name}/policy/network": 1}},
		{"env", backend.SandboxSpec{Env: map[string]string{"A": "b"}, Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}},
			map[string]int{"POST /v1/sprites": 1, "PUT /v1/sprites/{name}/fs/write": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := spritesfake.Start(t, spritesfake.Options{})
			e := newEngine(t, f)
			tc.spec.RecordID = backend.NewID()
			sb, err := e.CreateSandbox(t.Context(), tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			got := f.Counts()
			if !maps.Equal(got, tc.want) {
				t.Errorf("requests %v, want %v", got, tc.want)
			}
			// What was skipped is still right: the policy and env are those declared.
			if tc.spec.Env != nil {
				res, err := e.Exec(t.Context(), sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "printf %s \"$A\""}})
				if err != nil || string(res.Stdout) != "b" {
					t.Errorf("exec sees A=%q, %v", res.Stdout, err)
				}
			}
			rules, err := e.Client().GetNetworkPolicy(t.Context(), sb.ExternalID)
			want, _ := sprites.CompilePolicy(tc.spec.Policy)
			if err != nil || len(rules.Rules) != len(want.Rules) {
				t.Errorf("policy %+v, %v; want %+v", rules, err, want)
			}
		})
	}
}
