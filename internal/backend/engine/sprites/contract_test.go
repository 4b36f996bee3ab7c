package sprites_test

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
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
)

// The pinned official client the fake is checked against: the version whose requests and answers the fake and
// the engine were written to match.
const (
	officialClientName    = "@fly/sprites"
	officialClientVersion = "0.1.0"
)

// TestOfficialClientContract runs the official @fly/sprites client against spritesfake: create (taken and
// invalid names), get, list, update, exec over the WebSocket and over HTTP (argv, env, cwd, stdin, separate
// streams, real exit codes), the filesystem API, checkpoints (NDJSON streams, list with Current, restore),
// the network policy, 404 and 401 errors, and delete. It also checks both directions between the client and
// the Go engine: the client reads the sprite and the file the engine made, and the engine reads the sprite
// and the file the client made. The client takes a custom base URL (baseURL), so all of it runs. It needs node
// (with a WebSocket global: Node 22+, or Node 20 with --experimental-websocket) and npm; the package is
// installed once under the user cache directory.
func TestOfficialClientContract(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node/npm not found: %v", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("node/npm not found: %v", err)
	}
	nodeArgs := webSocketFlag(t, node)
	prefix := installOfficialClient(t, npm)

	f := spritesfake.Start(t, spritesfake.Options{})
	e := newEngine(t, f)
	ctx := t.Context()

	recordID := backend.NewID()
	sb, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: recordID})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile(ctx, sb.ExternalID, "from-go.txt", []byte("written by go")); err != nil {
		t.Fatal(err)
	}
	jsName := "contract-js-" + recordID[:8]
	in, err := json.Marshal(map[string]string{
		"prefix": prefix, "baseURL": f.URL(), "token": f.Token(),
		"goSprite": sb.ExternalID, "goFile": "from-go.txt", "goFileContent": "written by go", "jsSprite": jsName,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, node, append(nodeArgs, filepath.Join("testdata", "contract.mjs"))...)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("node contract.mjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	t.Logf("node ran in %s", time.Since(start).Round(time.Millisecond))
	var out struct {
		Checks []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		} `json:"checks"`
		Version    string `json:"version"`
		Fatal      string `json:"fatal"`
		HTTPRedone int    `json:"httpRedone"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("decoding the script's output: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	for _, c := range out.Checks {
		if c.OK {
			t.Logf("ok   %s", c.Name)
		} else {
			t.Errorf("FAIL %s: %s", c.Name, c.Detail)
		}
	}
	if out.HTTPRedone > 0 {
		t.Logf("%d exec(s) over HTTP made again: the client read two frames as one (no length field; see httpExec)", out.HTTPRedone)
	}
	if out.Fatal != "" {
		t.Fatalf("the script failed: %s\nstderr: %s", out.Fatal, stderr.String())
	}
	if len(out.Checks) < 25 {
		t.Errorf("the script ran %d checks; want all of them", len(out.Checks))
	}
	if out.Version != officialClientVersion {
		t.Errorf("ran %s %s; want %s", officialClientName, out.Version, officialClientVersion)
	}

	// The reverse direction: the Go engine reads what the official client made.
	got, err := e.GetSandbox(ctx, jsName)
	if err != nil {
		t.Fatalf("GetSandbox of the client's sprite: %v", err)
	}
	if got.ExternalID != jsName || got.URL == "" || got.State != backend.StateRunning {
		t.Errorf("GetSandbox of the client's sprite = %+v", got)
	}
	b, err := e.ReadFile(ctx, jsName, "notes/hello.txt")
	if err != nil || string(b) != "hi from js" {
		t.Errorf("ReadFile of the client's file = %q, %v", b, err)
	}
	if err := e.DeleteSandbox(ctx, jsName); err != nil {
		t.Errorf("DeleteSandbox of the client's sprite: %v", err)
	}
}

// webSocketFlag returns the node flags that give it a WebSocket global, or skips.
func webSocketFlag(t *testing.T, node string) []string {
	t.Helper()
	for _, args := range [][]string{nil, {"--experimental-websocket"}} {
		cmd := exec.CommandContext(t.Context(), node, append(args, "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)")...)
		if cmd.Run() == nil {
			return args
		}
	}
	t.Skip("this node has no WebSocket global (need Node 22+, or Node 20.10+ with --experimental-websocket)")
	return nil
}

// installOfficialClient installs the pinned client once under the user cache directory (or a temporary
// directory when there is none) and returns the npm prefix. It skips the test when npm cannot install it.
func installOfficialClient(t *testing.T, npm string) string {
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
	dir := filepath.Join(parent, "fly-sprites-"+officialClientVersion)
	if installedVersion(dir) == officialClientVersion {
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
	// Few, short fetch retries: without a registry, npm's defaults take over a minute to give up. The package
	// asks for Node 24 (engines); it runs on older ones with a WebSocket global, so the engine check is off.
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-update-notifier", "--engine-strict=false",
		"--fetch-retries=1", "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000",
		"--prefix", tmp, officialClientName+"@"+officialClientVersion)
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Skipf("npm install %s@%s failed (no registry?): %v\n%s", officialClientName, officialClientVersion, err, strings.TrimSpace(string(outb)))
	}
	if installedVersion(tmp) != officialClientVersion {
		t.Skipf("npm install did not install %s@%s:\n%s", officialClientName, officialClientVersion, outb)
	}
	if err := os.Rename(tmp, dir); err != nil && installedVersion(dir) != officialClientVersion {
		t.Fatalf("moving the npm install into place: %v", err)
	}
	return dir
}

// installedVersion returns the version of the client installed under the npm prefix dir, or "".
func installedVersion(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@fly", "sprites", "package.json"))
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
