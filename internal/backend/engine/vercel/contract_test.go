package vercel

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// sdkVersion is the @vercel/sandbox release the fake is checked against.
const sdkVersion = "3.5.0"

// contractScript drives the fake with the unmodified official SDK. The SDK has no base-URL option; its entry
// points take a fetch function, which rewrites https://vercel.com/api to the fake (as the Vercel CLI does).
const contractScript = `
import { Sandbox } from "@vercel/sandbox";
const base = process.env.FAKE_URL;
const fetchToFake = (url, opts) => fetch(String(url).replace("https://vercel.com/api", base), opts);
const creds = { token: process.env.FAKE_TOKEN, teamId: process.env.FAKE_TEAM, projectId: process.env.FAKE_PROJECT, fetch: fetchToFake };
const out = {};
const sb = await Sandbox.create({ ...creds, name: "sdk-contract", runtime: "node22", ports: [3000], timeout: 120000,
  resources: { vcpus: 2 }, env: { FROM_SDK: "sdk-env" },
  networkPolicy: { allow: { "api.github.com": [{ transform: [{ headers: { authorization: "Bearer sdk-secret" } }] }], "registry.npmjs.org": [] } } });
out.name = sb.name;
const r = await sb.runCommand("sh", ["-c", "echo hi; echo \"$FROM_SDK\" >&2; exit 3"]);
out.exitCode = r.exitCode; out.stdout = await r.stdout(); out.stderr = await r.stderr();
await sb.writeFiles([{ path: "notes/a.txt", content: Buffer.from("abc") }]);
out.read = (await sb.readFileToBuffer({ path: "notes/a.txt" }))?.toString();
out.missing = await sb.readFileToBuffer({ path: "notes/none.txt" });
const d = await sb.runCommand({ cmd: "sh", args: ["-c", "sleep 0.2; echo detached"], detached: true });
const df = await d.wait(); out.detached = [df.exitCode, await df.stdout()];
out.domain = sb.domain(3000);
await sb.extendTimeout(60000);
await sb.updateNetworkPolicy("deny-all");
const stopped = await sb.stop(); out.stopStatus = stopped.status; out.stopSnapshot = Boolean(stopped.snapshot);
const again = await Sandbox.get({ ...creds, name: "sdk-contract" }); out.getStatus = again.status;
const goSb = await Sandbox.get({ ...creds, name: process.env.GO_SANDBOX });
out.goStatus = goSb.status;
const gr = await goSb.runCommand("cat", ["from-go.txt"]); out.goRead = await gr.stdout();
const snap = await goSb.snapshot();
const fromSnap = await Sandbox.create({ ...creds, name: "sdk-from-snap", source: { type: "snapshot", snapshotId: snap.snapshotId } });
const fr = await fromSnap.runCommand("cat", ["from-go.txt"]); out.fromSnap = await fr.stdout();
await fromSnap.delete();
console.log(JSON.stringify(out));
`

// sdkDir installs @vercel/sandbox once into the user's cache directory, or skips the test saying why.
func sdkDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP contract test with @vercel/sandbox: -short")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP contract test with @vercel/sandbox: %s is not on PATH", tool)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "terraform-provider-sandbox", "npm", "vercel-sandbox-"+sdkVersion)
	pkg := filepath.Join(dir, "node_modules", "@vercel", "sandbox", "package.json")
	if b, err := os.ReadFile(pkg); err == nil && bytes.Contains(b, []byte(`"version": "`+sdkVersion+`"`)) {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Skipf("SKIP contract test with @vercel/sandbox: cannot make the cache %s: %v", dir, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error", "@vercel/sandbox@"+sdkVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("SKIP contract test with @vercel/sandbox: npm install failed (offline?): %v\n%s", err, out)
	}
	return dir
}

func TestContractOfficialSDK(t *testing.T) {
	dir := sdkDir(t)
	f := startFake(t, vercelfake.Config{})
	e := newTestEngine(t, f)
	ctx := ctxFor(t, 60*time.Second)
	goSb := createSandbox(t, e, backend.SandboxSpec{})
	if err := e.WriteFile(ctx, goSb.ExternalID, "from-go.txt", []byte("made by go\n")); err != nil {
		t.Fatal(err)
	}
	if err := e.StopSandbox(ctx, goSb.ExternalID); err != nil {
		t.Fatal(err)
	}
	// The SDK's retry policy meets the fake's 429 and 500.
	f.Faults().Add(harness.Fault{Route: "POST /v2/sandboxes", Status: 429, RetryAfter: "1"})
	f.Faults().Add(harness.Fault{Route: "GET /v2/sandboxes/{name}", Status: 500})

	fc := f.Config()
	cmd := exec.CommandContext(ctx, "node", "--input-type=module", "-e", contractScript)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "FAKE_URL="+f.URL(), "FAKE_TOKEN="+fc.Token, "FAKE_TEAM="+fc.TeamID, "FAKE_PROJECT="+fc.ProjectID,
		"GO_SANDBOX="+goSb.ExternalID, "VERCEL_SANDBOX_TELEMETRY_DISABLED=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the SDK script failed: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var out struct {
		Name      string  `json:"name"`
		ExitCode  int     `json:"exitCode"`
		Stdout    string  `json:"stdout"`
		Stderr    string  `json:"stderr"`
		Read      string  `json:"read"`
		Missing   *string `json:"missing"`
		Detached  []any   `json:"detached"`
		Domain    string  `json:"domain"`
		StopState string  `json:"stopStatus"`
		StopSnap  bool    `json:"stopSnapshot"`
		GetStatus string  `json:"getStatus"`
		GoStatus  string  `json:"goStatus"`
		GoRead    string  `json:"goRead"`
		FromSnap  string  `json:"fromSnap"`
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		t.Fatalf("the SDK script's output %q: %v", stdout.String(), err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", out.Name, "sdk-contract"},
		{"exit code", out.ExitCode, 3},
		{"stdout", out.Stdout, "hi\n"},
		{"stderr (sandbox env)", out.Stderr, "sdk-env\n"},
		{"readFileToBuffer", out.Read, "abc"},
		{"readFileToBuffer of a missing file", out.Missing == nil, true},
		{"detached command", out.Detached, []any{float64(0), "detached\n"}},
		{"stop", out.StopState == "stopping" || out.StopState == "stopped", true},
		{"a persistent sandbox's stop snapshots it", out.StopSnap, true},
		{"get after stop", out.GetStatus == "stopping" || out.GetStatus == "stopped", true},
		{"Go-made sandbox seen by the SDK", out.GoStatus, "stopped"},
		{"the SDK resumes the Go-made sandbox", out.GoRead, "made by go\n"},
		{"create from the SDK's snapshot", out.FromSnap, "made by go\n"},
	}
	for _, c := range checks {
		if !equalJSON(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.what, c.got, c.want)
		}
	}
	if !strings.HasPrefix(out.Domain, "https://sb-") || !strings.HasSuffix(out.Domain, ".vercel.run") {
		t.Errorf("domain(3000) = %q", out.Domain)
	}
	if n := f.Requests("POST /v2/sandboxes"); n != 2 {
		t.Errorf("the SDK's create was sent %d times, want 2 (429, then the retry)", n)
	}
	recs := f.NetworkPolicies("sdk-contract")
	if len(recs) != 2 || recs[0].Via != "create" || !strings.Contains(string(recs[0].Body), "Bearer sdk-secret") || string(recs[1].Body) != `{"mode":"deny-all"}` {
		t.Errorf("policies the SDK sent: %+v", recs)
	}
	// The engine reads what the SDK made.
	got, err := e.GetSandbox(ctx, "sdk-contract")
	if err != nil || got.ExternalID != "sdk-contract" || got.State != backend.StateStopped {
		t.Errorf("GetSandbox(sdk-contract) = %+v, %v", got, err)
	}
	if err := e.DeleteSandbox(ctx, "sdk-contract"); err != nil {
		t.Error(err)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
