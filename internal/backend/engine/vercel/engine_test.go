package vercel

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func createSandbox(t *testing.T, e *Engine, spec backend.SandboxSpec) *backend.Sandbox {
	t.Helper()
	if spec.RecordID == "" {
		spec.RecordID = backend.NewID()
	}
	sb, err := e.CreateSandbox(ctxFor(t, 20*time.Second), spec)
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

func TestCapabilities(t *testing.T) {
	e := newTestEngine(t, startFake(t, vercelfake.Config{}))
	c := e.Capabilities()
	want := backend.Capabilities{
		StopStart: true, Exec: true, Files: true, Volumes: false, Setups: true, Workspaces: true, PublicURLs: true,
		NetworkPolicies: []string{"deny_all", "allow_all", "allow_list"}, MaxPorts: 15, MaxVCPUs: 8,
		PolicyCredentials: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Capabilities() = %+v, want %+v", c, want)
	}
	if e.Name() != "vercel" {
		t.Errorf("Name() = %q", e.Name())
	}
}

func TestValidateSpecMessages(t *testing.T) {
	e := newTestEngine(t, startFake(t, vercelfake.Config{}))
	pol := func(p backend.NetworkPolicy) *backend.NetworkPolicy { return &p }
	for name, tc := range map[string]struct {
		spec backend.SandboxSpec
		want string
	}{
		"odd vcpus":          {backend.SandboxSpec{VCPUs: 3}, "1 or an even number"},
		"too many vcpus":     {backend.SandboxSpec{VCPUs: 10}, "at most 8"},
		"too many ports":     {backend.SandboxSpec{Ports: []int{1024, 1025, 1026, 1027, 1028, 1029, 1030, 1031, 1032, 1033, 1034, 1035, 1036, 1037, 1038, 1039}}, "at most 15 ports"},
		"privileged port":    {backend.SandboxSpec{Ports: []int{80}}, "1024..65535"},
		"port twice":         {backend.SandboxSpec{Ports: []int{3000, 3000}}, "listed twice"},
		"short timeout":      {backend.SandboxSpec{Timeout: 500 * time.Millisecond}, "at least 1s"},
		"long timeout":       {backend.SandboxSpec{Timeout: 25 * time.Hour}, "at most 24h0m0s"},
		"runtime":            {backend.SandboxSpec{Runtime: "node18"}, "node22, node24, node26, python3.13"},
		"volumes":            {backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: "v", ExternalID: "x", MountPath: "/data"}}}, "no volumes"},
		"workspace":          {backend.SandboxSpec{Workspace: "wks-x"}, "workspace is its own persistent sandbox"},
		"record id":          {backend.SandboxSpec{RecordID: "a/b"}, "cannot be part of a vercel sandbox name"},
		"unknown option":     {backend.SandboxSpec{Options: map[string]any{"image": "x"}}, "supported: source, persistent, snapshot_expiration"},
		"git password":       {backend.SandboxSpec{Options: map[string]any{"source": map[string]any{"type": "git", "url": "https://github.com/a/b", "password": "p"}}}, "password is refused"},
		"url credentials":    {backend.SandboxSpec{Options: map[string]any{"source": map[string]any{"type": "git", "url": "https://u:p@github.com/a/b"}}}, "must not carry credentials"},
		"source type":        {backend.SandboxSpec{Options: map[string]any{"source": map[string]any{"type": "svn", "url": "https://x"}}}, "unknown type"},
		"snapshot + runtime": {backend.SandboxSpec{Runtime: "node22", Options: map[string]any{"source": map[string]any{"type": "snapshot", "snapshot_id": "snap_1"}}}, "leave runtime empty"},
		"setup + source":     {backend.SandboxSpec{Setup: "snap_1", Options: map[string]any{"source": map[string]any{"type": "tarball", "url": "https://x/a.tgz"}}}, "use one of them"},
		"persistent":         {backend.SandboxSpec{Options: map[string]any{"persistent": "maybe"}}, "want true or false"},
		"expiration":         {backend.SandboxSpec{Options: map[string]any{"snapshot_expiration": "1h"}}, "at least one day"},
		"policy":             {backend.SandboxSpec{Policy: pol(backend.NetworkPolicy{Mode: "allow_list"})}, "needs at least one host"},
	} {
		t.Run(name, func(t *testing.T) {
			err := e.ValidateSpec(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ValidateSpec = %v, want an error saying %q", err, tc.want)
			}
		})
	}
	good := backend.SandboxSpec{Runtime: "python3.13", VCPUs: 4, Ports: []int{3000, 8080}, Timeout: time.Hour, Options: map[string]any{
		"source":              map[string]any{"type": "git", "url": "https://github.com/vercel/sandbox.git", "revision": "main", "depth": float64(1)},
		"persistent":          false,
		"snapshot_expiration": "30d",
	}}
	if err := e.ValidateSpec(good); err != nil {
		t.Errorf("ValidateSpec(good) = %v", err)
	}
}

func TestNewMissingToken(t *testing.T) {
	_, err := New(Config{TeamID: "t", ProjectID: "p"})
	if !errors.Is(err, ErrMissingToken) {
		t.Fatalf("New without a token = %v, want ErrMissingToken", err)
	}
	for _, want := range []string{"VERCEL_TOKEN", "VERCEL_OIDC_TOKEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := New(Config{Token: "x", ProjectID: "p"}); err == nil || !strings.Contains(err.Error(), "VERCEL_TEAM_ID") {
		t.Errorf("New without a team = %v, want an error naming VERCEL_TEAM_ID", err)
	}
	if _, err := New(Config{Token: "x", TeamID: "t"}); err == nil || !strings.Contains(err.Error(), "VERCEL_PROJECT_ID") {
		t.Errorf("New without a project = %v, want an error naming VERCEL_PROJECT_ID", err)
	}
}

func fakeJWT(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64URL(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." + enc(claims) + ".c2lnbmF0dXJl"
}

func TestOIDCTokenGivesTeamAndProject(t *testing.T) {
	jwt := fakeJWT(map[string]any{"owner_id": "team_oidc", "project_id": "prj_oidc", "exp": time.Now().Add(time.Hour).Unix()})
	f := startFake(t, vercelfake.Config{Token: jwt, TeamID: "team_oidc", ProjectID: "prj_oidc"})
	e := newTestEngine(t, f, func(c *Config) { c.TeamID, c.ProjectID = "", "" })
	if e.Client().TeamID() != "team_oidc" || e.Client().ProjectID() != "prj_oidc" {
		t.Fatalf("team %q, project %q; want the token's owner_id and project_id", e.Client().TeamID(), e.Client().ProjectID())
	}
	createSandbox(t, e, backend.SandboxSpec{Runtime: "node22"})
	// Explicit values win over the claims.
	e2 := newTestEngine(t, f, func(c *Config) { c.TeamID, c.ProjectID = "team_x", "prj_x" })
	if e2.Client().TeamID() != "team_x" || e2.Client().ProjectID() != "prj_x" {
		t.Errorf("explicit team/project were overridden by the claims")
	}
}

func TestTeamSlug(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f, func(c *Config) { c.TeamID, c.TeamSlug = "", f.Config().TeamSlug })
	createSandbox(t, e, backend.SandboxSpec{})
}

func TestBadTokenErrorNamesEnvAndHidesToken(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	const secret = "tok_super_secret_value_123"
	e := newTestEngine(t, f, func(c *Config) { c.Token = secret })
	_, err := e.CreateSandbox(ctxFor(t, 5*time.Second), backend.SandboxSpec{RecordID: backend.NewID()})
	if err == nil {
		t.Fatal("CreateSandbox with a bad token succeeded")
	}
	if StatusOf(err) != http.StatusForbidden || CodeOf(err) != "forbidden" {
		t.Errorf("error %v: want 403 forbidden", err)
	}
	for _, want := range []string{"403", "Not authorized", "VERCEL_TOKEN", "VERCEL_OIDC_TOKEN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error shows the token: %q", err)
	}
	if n := f.Requests("POST /v3/sandboxes"); n != 1 {
		t.Errorf("a 403 was sent %d times; 4xx must not be retried", n)
	}
}

// TestSecretsNeverInErrors makes the API echo the token and a policy credential in its error messages: the
// client scrubs both.
func TestSecretsNeverInErrors(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	token := f.Config().Token
	const cred = "ghp_credential_value_456"
	f.Faults().Add(harness.Fault{Route: "POST /v3/sandboxes", Status: 400, Code: "bad_request", Message: "bad header authorization: Bearer " + cred + " with token " + token})
	spec := backend.SandboxSpec{RecordID: backend.NewID(), Policy: &backend.NetworkPolicy{Mode: "allow_list", Presets: []string{"github"}, Credentials: map[string]string{"github": cred}}}
	_, err := e.CreateSandbox(ctxFor(t, 5*time.Second), spec)
	if err == nil {
		t.Fatal("CreateSandbox succeeded despite the injected 400")
	}
	if strings.Contains(err.Error(), cred) || strings.Contains(err.Error(), token) {
		t.Errorf("error shows a secret: %q", err)
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %q: want the secrets replaced by [redacted]", err)
	}
}

func TestRetry429ThenSuccess(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	f.Faults().Add(harness.Fault{Route: "POST /v2/sandboxes", Status: 429, RetryAfter: "1"})
	start := time.Now()
	createSandbox(t, e, backend.SandboxSpec{Runtime: "node22"})
	if n := f.Requests("POST /v2/sandboxes"); n != 2 {
		t.Errorf("create was sent %d times, want 2 (a 429, then the retry)", n)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("the retry came after %s: Retry-After: 1 was not honoured", took)
	}
}

func TestRetryAfterBeyondDeadlineGivesUpAtOnce(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	f.Faults().Add(harness.Fault{Route: "GET /v2/sandboxes/{name}", Status: 429, RetryAfter: "30"})
	start := time.Now()
	_, err := e.GetSandbox(ctxFor(t, 2*time.Second), "sbx-whatever")
	if err == nil || StatusOf(err) != http.StatusTooManyRequests || !strings.Contains(err.Error(), "after the deadline") {
		t.Fatalf("GetSandbox = %v, want the 429 and a word on the deadline", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("gave up after %s; with a Retry-After past the deadline it should give up at once", took)
	}
}

func TestRetry500UntilRetriesRunOut(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f, func(c *Config) { c.MaxRetries = 3 })
	f.Faults().Add(harness.Fault{Route: "GET /v2/sandboxes/{name}", Status: 500, Times: 6})
	start := time.Now()
	_, err := e.GetSandbox(ctxFor(t, 10*time.Second), "sbx-x")
	if err == nil {
		t.Fatal("GetSandbox succeeded through six 500s")
	}
	if StatusOf(err) != http.StatusInternalServerError || !strings.Contains(err.Error(), "gave up after 4 attempts") || !strings.Contains(err.Error(), "internal_server_error") {
		t.Errorf("error %q: want the 500, its code and the number of attempts", err)
	}
	if errors.Is(err, backend.ErrNotFound) {
		t.Errorf("a 500 reads as ErrNotFound: %v", err)
	}
	if n := f.Requests("GET /v2/sandboxes/{name}"); n != 4 {
		t.Errorf("sent %d times, want 4 (1 + MaxRetries)", n)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestRetryConnectionDrop(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	f.Faults().Add(harness.Fault{Route: "GET /v2/sandboxes/{name}", Status: harness.Drop}, harness.Fault{Route: "GET /v2/sandboxes/{name}", Status: 503})
	if _, err := e.GetSandbox(ctxFor(t, 5*time.Second), sb.ExternalID); err != nil {
		t.Fatalf("GetSandbox through a dropped connection and a 503: %v", err)
	}
}

// TestNonIdempotentNotRetried: a command that may have run is never sent twice.
func TestNonIdempotentNotRetried(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	f.Faults().Add(harness.Fault{Route: "POST /v2/sandboxes/sessions/{sessionId}/cmd", Status: 500, AfterApply: true})
	before := f.Requests("POST /v2/sandboxes/sessions/{sessionId}/cmd")
	_, err := e.Exec(ctxFor(t, 5*time.Second), sb.ExternalID, backend.ExecRequest{Argv: []string{"echo", "once"}})
	if StatusOf(err) != http.StatusInternalServerError {
		t.Fatalf("Exec = %v, want the 500", err)
	}
	// The run itself, then the cleanup of its files.
	if n := f.Requests("POST /v2/sandboxes/sessions/{sessionId}/cmd") - before; n != 2 {
		t.Errorf("%d command requests, want 2 (the run, not retried, and the cleanup)", n)
	}
}

// TestCreateAppliedThenFailed: the create reached the API, the answer was lost; the retry gets 409 and the
// engine adopts the sandbox its record made.
func TestCreateAppliedThenFailed(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	f.Faults().Add(harness.Fault{Route: "POST /v3/sandboxes", Status: 502, AfterApply: true})
	id := backend.NewID()
	sb := createSandbox(t, e, backend.SandboxSpec{RecordID: id})
	if sb.RecordID != id || sb.State != backend.StateRunning {
		t.Errorf("sandbox = %+v", sb)
	}
	if n := f.Requests("POST /v3/sandboxes"); n != 2 {
		t.Errorf("create sent %d times, want 2", n)
	}
	list, err := e.ListSandboxes(ctxFor(t, 5*time.Second))
	if err != nil || len(list) != 1 {
		t.Errorf("ListSandboxes = %d sandboxes, %v; want exactly one", len(list), err)
	}
}

func TestPendingPastTheDeadline(t *testing.T) {
	f := startFake(t, vercelfake.Config{BootDelay: -1})
	e := newTestEngine(t, f)
	id := backend.NewID()
	start := time.Now()
	_, err := e.CreateSandbox(ctxFor(t, 300*time.Millisecond), backend.SandboxSpec{RecordID: id})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still pending") {
		t.Fatalf("CreateSandbox = %v, want a deadline error saying the sandbox is still pending", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s for a 300ms deadline", took)
	}
	// The half-made sandbox is found by its record id, to be deleted.
	found, err := e.FindSandbox(ctxFor(t, 5*time.Second), id)
	if err != nil || found.State != backend.StateStarting {
		t.Fatalf("FindSandbox = %+v, %v; want it, starting", found, err)
	}
	if err := e.DeleteSandbox(ctxFor(t, 5*time.Second), found.ExternalID); err != nil {
		t.Fatalf("DeleteSandbox: %v", err)
	}
}

func TestReadNeverResumes(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	ctx := ctxFor(t, 10*time.Second)
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, err := e.GetSandbox(ctx, sb.ExternalID)
		if err != nil || got.State != backend.StateStopped {
			t.Fatalf("GetSandbox = %+v, %v; want it stopped", got, err)
		}
		if _, err := e.FindSandbox(ctx, sb.RecordID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ListSandboxes(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.Resumes(); n != 0 {
		t.Errorf("reads sent resume=true %d times", n)
	}
	if st := f.SandboxStatus(sb.ExternalID); st != "stopped" {
		t.Errorf("after reads the sandbox is %s", st)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if n := f.Resumes(); n != 1 {
		t.Errorf("StartSandbox resumed %d times, want 1", n)
	}
}

func TestWrongProjectIsNotNotFound(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f, func(c *Config) { c.ProjectID = "prj_other" })
	_, err := e.GetSandbox(ctxFor(t, 5*time.Second), "sbx-"+backend.NewID())
	if err == nil || errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("GetSandbox in an unknown project = %v; it must not read as a missing sandbox (records would be closed)", err)
	}
	if !strings.Contains(err.Error(), "prj_other") {
		t.Errorf("error %q does not name the project", err)
	}
}

func TestNamesTagsAndMetadata(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	id := backend.NewID()
	spec := backend.SandboxSpec{RecordID: id, Runtime: "node24", Ports: []int{3000, 8080}, Purpose: "codex review", Env: map[string]string{"API_KEY": "env-secret-789"},
		Options: map[string]any{"persistent": true, "snapshot_expiration": "7d"}}
	sb := createSandbox(t, e, spec)
	if sb.ExternalID != "sbx-"+id || sb.RecordID != id {
		t.Errorf("ids = %s / %s", sb.ExternalID, sb.RecordID)
	}
	if len(sb.URLs) != 2 || !strings.HasSuffix(sb.URLs[3000], ".vercel.run") || sb.URL != sb.URLs[3000] {
		t.Errorf("URLs = %v, URL = %s", sb.URLs, sb.URL)
	}
	md := sb.Metadata
	want := map[string]any{"profile": "coding-agent", "runtime": "node24", "timeoutMs": int64(20 * 60 * 1000), "vcpus": 2, "persistent": true,
		"name": "sbx-" + id, "deleteOnStop": false, "reuse": false, "snapshotExpirationMs": int64(7 * 24 * 3600 * 1000)}
	for k, v := range want {
		if !reflect.DeepEqual(md[k], v) {
			t.Errorf("Metadata[%s] = %#v, want %#v", k, md[k], v)
		}
	}
	if !reflect.DeepEqual(md["ports"], []int{3000, 8080}) {
		t.Errorf("Metadata[ports] = %v", md["ports"])
	}
	tags, _ := md["tags"].(map[string]any)
	if tags["sandboxId"] != id || tags["ekairos"] != "1" || tags["purpose"] != "codex review" {
		t.Errorf("tags = %v", tags)
	}
	b, _ := json.Marshal(sb)
	if strings.Contains(string(b), "env-secret-789") || strings.Contains(string(b), f.Config().Token) {
		t.Errorf("the sandbox view shows a secret: %s", b)
	}
	// A read gives the same metadata as the create: nothing drifts by itself.
	got, err := e.GetSandbox(ctxFor(t, 5*time.Second), sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Metadata, sb.Metadata) || !reflect.DeepEqual(got.URLs, sb.URLs) {
		t.Errorf("GetSandbox metadata/URLs differ from the create's:\n%v\n%v", got.Metadata, sb.Metadata)
	}
}

func TestNetworkPolicyOnTheWire(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	const tok = "ghp_wire_token_1"
	spec := backend.SandboxSpec{RecordID: backend.NewID(), Policy: &backend.NetworkPolicy{Mode: "allow_list", Hosts: []string{"example.com"}, Presets: []string{"github", "npm"}, Credentials: map[string]string{"github": tok}}}
	sb := createSandbox(t, e, spec)
	recs := f.NetworkPolicies(sb.ExternalID)
	if len(recs) != 1 || recs[0].Via != "create" {
		t.Fatalf("policies received = %+v, want one at create", recs)
	}
	var sent struct {
		Allow map[string][]struct {
			Transform []struct {
				Headers map[string]string `json:"headers"`
			} `json:"transform"`
		} `json:"allow"`
	}
	if err := json.Unmarshal(recs[0].Body, &sent); err != nil {
		t.Fatal(err)
	}
	if got := sent.Allow["api.github.com"]; len(got) != 1 || got[0].Transform[0].Headers["authorization"] != "Bearer "+tok {
		t.Errorf("api.github.com rules = %+v", got)
	}
	if got, ok := sent.Allow["example.com"]; !ok || len(got) != 0 {
		t.Errorf("example.com rules = %+v (present %v), want []", got, ok)
	}
	if _, ok := sent.Allow["registry.npmjs.org"]; !ok {
		t.Errorf("npm's host is not allowed: %v", sent.Allow)
	}
	// The sandbox view never holds the credential (the API does not return it either).
	if b, _ := json.Marshal(sb); strings.Contains(string(b), tok) {
		t.Errorf("view shows the credential: %s", b)
	}

	// Update: the sandbox's default and the running session both get the new policy.
	spec.Policy = &backend.NetworkPolicy{Mode: "deny_all"}
	if _, err := e.UpdateSandbox(ctxFor(t, 5*time.Second), sb.ExternalID, spec); err != nil {
		t.Fatal(err)
	}
	recs = f.NetworkPolicies(sb.ExternalID)
	if len(recs) != 3 || recs[1].Via != "update" || recs[2].Via != "session" {
		t.Fatalf("policies after update = %+v, want create, update, session", recs)
	}
	if got := string(f.SessionPolicy(sb.ExternalID)); got != `{"mode":"deny-all"}` {
		t.Errorf("session policy = %s", got)
	}
	// An unchanged spec gives the same metadata: the policy never causes a diff.
	upd, err := e.UpdateSandbox(ctxFor(t, 5*time.Second), sb.ExternalID, spec)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.GetSandbox(ctxFor(t, 5*time.Second), sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(upd.Metadata, again.Metadata) {
		t.Errorf("metadata after update %v != after read %v", upd.Metadata, again.Metadata)
	}
}

func TestNilPolicyIsDenyAll(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	if got := string(f.SessionPolicy(sb.ExternalID)); got != `{"mode":"deny-all"}` {
		t.Errorf("policy of a sandbox without one = %s, want deny-all (the API's default is allow-all)", got)
	}
}

func TestUpdateTimeoutExtendsRunningSession(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	spec := backend.SandboxSpec{RecordID: backend.NewID(), Timeout: 10 * time.Minute}
	sb := createSandbox(t, e, spec)
	spec.Timeout = 30 * time.Minute
	if _, err := e.UpdateSandbox(ctxFor(t, 5*time.Second), sb.ExternalID, spec); err != nil {
		t.Fatal(err)
	}
	r, err := e.Client().GetSandbox(ctxFor(t, 5*time.Second), sb.ExternalID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Session.Timeout != (30*time.Minute).Milliseconds() || r.Sandbox.Timeout != (30*time.Minute).Milliseconds() {
		t.Errorf("session timeout %d, sandbox timeout %d; want both 30 min", r.Session.Timeout, r.Sandbox.Timeout)
	}
}

func TestSessionTimeoutStopsSandbox(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{Timeout: time.Second})
	ctx := ctxFor(t, 10*time.Second)
	if err := e.WriteFile(ctx, sb.ExternalID, "kept.txt", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := e.GetSandbox(ctx, sb.ExternalID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == backend.StateStopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s after its 1s timeout", got.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if b, err := e.ReadFile(ctx, sb.ExternalID, "kept.txt"); err != nil || string(b) != "kept" {
		t.Errorf("after a timeout and a resume: %q, %v (persistent sandboxes snapshot at every stop)", b, err)
	}
}

func TestNotPersistentLosesFiles(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{Options: map[string]any{"persistent": false}})
	ctx := ctxFor(t, 10*time.Second)
	if err := e.WriteFile(ctx, sb.ExternalID, "gone.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ReadFile(ctx, sb.ExternalID, "gone.txt"); err == nil {
		t.Errorf("a non-persistent sandbox kept its files over a stop")
	}
	if sb.Metadata["persistent"] != false {
		t.Errorf("Metadata[persistent] = %v", sb.Metadata["persistent"])
	}
}

func TestExpiredSnapshotIsNotFound(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	ctx := ctxFor(t, 10*time.Second)
	if err := e.StopSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	for _, id := range f.Snapshots(sb.ExternalID) {
		f.ExpireSnapshot(id)
	}
	if _, err := e.GetSandbox(ctx, sb.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetSandbox of a sandbox whose snapshot expired = %v, want ErrNotFound (410 snapshot_not_found)", err)
	}
	if err := e.StartSandbox(ctx, sb.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("StartSandbox = %v, want ErrNotFound", err)
	}
}

func TestSourceTarball(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	srv := tarballServer(t, map[string]string{"app/index.js": "console.log(1)\n"})
	sb := createSandbox(t, e, backend.SandboxSpec{Options: map[string]any{"source": map[string]any{"type": "tarball", "url": srv}}})
	b, err := e.ReadFile(ctxFor(t, 5*time.Second), sb.ExternalID, "app/index.js")
	if err != nil || string(b) != "console.log(1)\n" {
		t.Errorf("ReadFile(app/index.js) = %q, %v", b, err)
	}
}

func TestSourceFailsBoot(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	srv := tarballServer(t, nil)
	_, err := e.CreateSandbox(ctxFor(t, 5*time.Second), backend.SandboxSpec{RecordID: backend.NewID(), Options: map[string]any{"source": map[string]any{"type": "tarball", "url": srv + "/missing"}}})
	if err == nil || !strings.Contains(err.Error(), "failed instead of running") {
		t.Errorf("CreateSandbox with a bad source = %v, want a failed session", err)
	}
}

func TestExecCwdAndAbsolutePaths(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	sb := createSandbox(t, e, backend.SandboxSpec{})
	ctx := ctxFor(t, 10*time.Second)
	if err := e.WriteFile(ctx, sb.ExternalID, "/vercel/sandbox/a/b.txt", []byte("abs")); err != nil {
		t.Fatal(err)
	}
	if b, err := e.ReadFile(ctx, sb.ExternalID, "a/b.txt"); err != nil || string(b) != "abs" {
		t.Errorf("ReadFile(a/b.txt) = %q, %v", b, err)
	}
	if _, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"pwd"}, Cwd: "../x"}); err == nil {
		t.Errorf("Exec with cwd ../x = nil error")
	}
	res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"no-such-command-xyz"}})
	if err != nil || res.ExitCode != 127 {
		t.Errorf("unknown command: %+v, %v; want exit code 127", res, err)
	}
	// Only this run's own output files are there: earlier runs removed theirs.
	res, err = e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "ls -a | grep -c sandbox-exec"}})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "2" {
		t.Errorf("the exec wrapper leaves files behind: %q, %v", res.Stdout, err)
	}
}

func TestUpdateRestoresDefaultPersistence(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	spec := backend.SandboxSpec{RecordID: backend.NewID(), Options: map[string]any{"persistent": false}}
	sb := createSandbox(t, e, spec)
	if sb.Metadata["persistent"] != false {
		t.Fatalf("persistent = %v", sb.Metadata["persistent"])
	}
	spec.Options = nil
	upd, err := e.UpdateSandbox(ctxFor(t, 5*time.Second), sb.ExternalID, spec)
	if err != nil || upd.Metadata["persistent"] != true {
		t.Errorf("after removing the option: %v, %v; want persistent again (the default)", upd.Metadata["persistent"], err)
	}
}

// A create sends what the official client sends: the create, then reads only after the first pause (the
// create's answer is the first observation) until the session runs.
func TestCreateRequests(t *testing.T) {
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f, func(c *Config) { c.PollInterval = 0 }) // the engine's default cadence
	createSandbox(t, e, backend.SandboxSpec{Runtime: "node22"})
	if n := f.Requests("POST /v2/sandboxes"); n != 1 {
		t.Errorf("create sent %d times, want 1", n)
	}
	if n := f.Requests("GET /v2/sandboxes/{name}"); n > 1 {
		t.Errorf("%d reads during the create, want at most 1 (none right after the create)", n)
	}
}
