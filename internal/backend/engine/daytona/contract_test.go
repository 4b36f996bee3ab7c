package daytona

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
)

// officialSDK is the pinned official client the fake is checked against: the version whose requests and
// answers the fake and the engine were written to match.
const (
	officialSDKName    = "@daytonaio/sdk"
	officialSDKVersion = "0.218.0"
)

// TestOfficialSDKContract runs the official @daytonaio/sdk against daytonafake (create with labels, env and a
// language, executeCommand with exit codes, env and cwd, list by label, delete then 404), and has it read and
// run a command in a sandbox the Go engine made. It needs node and npm; the package is installed once under
// the user cache directory. Without node, npm or a registry it is skipped, saying why.
func TestOfficialSDKContract(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("SKIP: node not found (%v): the official SDK contract is not checked", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("SKIP: npm not found (%v): the official SDK contract is not checked", err)
	}
	prefix := installSDK(t, npm)
	f := newFake(t)
	e := newEngine(t, f)
	rid := backend.NewID()
	goSb := mustCreate(t, e, backend.SandboxSpec{RecordID: rid})

	in, err := json.Marshal(map[string]string{"prefix": prefix, "apiUrl": f.URL(), "apiKey": testKey,
		"goSandboxId": goSb.ExternalID, "goRecordId": rid})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "contract.cjs"))
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "DAYTONA_OTEL_ENABLED=false")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("node contract.cjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	t.Logf("node ran in %s", time.Since(start).Round(time.Millisecond))
	var out struct {
		Version string `json:"version"`
		Checks  []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		} `json:"checks"`
		Fatal string `json:"fatal"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("decoding the script's output: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	for _, c := range out.Checks {
		if c.OK {
			t.Logf("ok   %s %.160s", c.Name, c.Detail)
		} else {
			t.Errorf("FAIL %s: %s", c.Name, c.Detail)
		}
	}
	if out.Fatal != "" {
		t.Fatalf("the script failed: %s\nstderr: %s", out.Fatal, stderr.String())
	}
	if len(out.Checks) < 8 {
		t.Errorf("only %d checks ran", len(out.Checks))
	}
	if out.Version != officialSDKVersion {
		t.Errorf("ran %s %s, want %s", officialSDKName, out.Version, officialSDKVersion)
	}
	for _, r := range f.Requests() {
		if r.Status == 404 && !strings.Contains(r.Path, "socket.io") && r.Route != "GET /sandbox/{id}" {
			t.Errorf("the SDK called a route the fake does not serve: %s %s", r.Method, r.Path)
		}
	}
}

// installSDK installs the pinned SDK once under the user cache directory (or a temporary directory) and returns
// the npm prefix. It skips the test when npm cannot install it.
func installSDK(t *testing.T, npm string) string {
	t.Helper()
	root := os.Getenv("XDG_CACHE_HOME")
	if root == "" {
		if d, err := os.UserCacheDir(); err == nil {
			root = d
		}
	}
	parent := filepath.Join(root, "terraform-provider-sandbox", "npm")
	if root == "" || os.MkdirAll(parent, 0o755) != nil {
		parent = t.TempDir()
	}
	dir := filepath.Join(parent, "daytona-sdk-"+officialSDKVersion)
	if sdkVersion(dir) == officialSDKVersion {
		return dir
	}
	// Beside the final directory, so that the rename below is atomic; t.TempDir may be on another device.
	tmp, err := os.MkdirTemp(parent, ".install-") //nolint:usetesting // see above
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-update-notifier", "--ignore-scripts",
		"--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000",
		"--prefix", tmp, officialSDKName+"@"+officialSDKVersion)
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("SKIP: npm install %s@%s failed (no registry?): %v\n%s", officialSDKName, officialSDKVersion, err, strings.TrimSpace(string(outb)))
	}
	if sdkVersion(tmp) != officialSDKVersion {
		t.Skipf("SKIP: npm did not install %s@%s:\n%s", officialSDKName, officialSDKVersion, outb)
	}
	if err := os.Rename(tmp, dir); err != nil && sdkVersion(dir) != officialSDKVersion {
		t.Fatalf("moving the npm install into place: %v", err)
	}
	return dir
}

func sdkVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@daytonaio", "sdk", "package.json"))
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	return p.Version
}
