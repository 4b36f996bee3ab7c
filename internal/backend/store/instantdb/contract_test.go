package instantdb

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// officialClient is the pinned official client the fake is checked against: the version whose requests and
// answers the fake and the store were written to match.
const (
	officialClientName    = "@instantdb/admin"
	officialClientVersion = "1.0.67"
)

// TestOfficialClientContract runs the official @instantdb/admin client against instantdbfake (transact with
// tx builders and id(), query with where/order/limit/offset, the errors it surfaces), and checks both
// directions between it and the Go store: the client reads what the store wrote with the exact field names
// and JSON types, and the store reads what the client wrote the way @ekairos/sandbox writes it. It needs
// node and npm; the package is installed once under the user cache directory.
func TestOfficialClientContract(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("node/npm not found: %v", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("node/npm not found: %v", err)
	}
	prefix := installOfficialClient(t, npm)

	f := startFake(t)
	s := openStore(t, f, nil)
	ctx := t.Context()

	// Written by the Go store: every kind of value, then one field cleared by an update.
	goID := backend.NewID()
	goAttrs := backend.Attrs{
		"externalSandboxId": "ext-go", "provider": "local", "sandboxUrl": "http://127.0.0.1:9", "status": backend.StatusActive,
		"timeout": 300000, "runtime": "node22", "vcpus": 0.5, "ports": []int{3000, 8080}, "purpose": "contract",
		"params":    map[string]any{"local": map[string]any{"dir": "/tmp/x"}, "n": 1.25, "list": []any{1, "a", true, nil}},
		"createdAt": int64(1763912345678), "updatedAt": int64(1763912345678),
	}
	if _, err := s.Create(ctx, backend.EntitySandboxes, goID, goAttrs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, backend.EntitySandboxes, goID, backend.Attrs{"sandboxUrl": nil, "shutdownAt": int64(1763912399999)}); err != nil {
		t.Fatal(err)
	}
	// A run in that sandbox, recorded as the lifecycle records it: linked to the sandbox.
	goProcessID := backend.NewID()
	if _, err := s.Create(ctx, backend.EntityProcesses, goProcessID, backend.Attrs{
		"sandboxId": goID, "kind": "command", "mode": "foreground", "status": "exited", "provider": "local",
		"command": "true", "startedAt": int64(1763912345679), "exitCode": 0,
	}); err != nil {
		t.Fatal(err)
	}
	schemaFile := filepath.Join(t.TempDir(), "instant.schema.ts")
	if err := os.WriteFile(schemaFile, []byte(SchemaTS()), 0o600); err != nil {
		t.Fatal(err)
	}

	in, err := json.Marshal(map[string]string{
		"prefix": prefix, "appId": testAppID, "adminToken": testToken, "apiURI": f.URL(),
		"goRecordId": goID, "goProcessId": goProcessID, "schemaFile": schemaFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, node, filepath.Join("testdata", "contract.cjs"))
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("node contract.cjs: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	t.Logf("node ran in %s", time.Since(start).Round(time.Millisecond))
	var out struct {
		Checks []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Detail string `json:"detail"`
		} `json:"checks"`
		Fatal          string            `json:"fatal"`
		Body           any               `json:"body"`
		GoRecord       map[string]any    `json:"goRecord"`
		GoTypes        map[string]string `json:"goTypes"`
		ClientRecordID string            `json:"clientRecordId"`
		Version        string            `json:"version"`
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
		t.Fatalf("the script failed: %s (body %v)\nstderr: %s", out.Fatal, out.Body, stderr.String())
	}
	if out.Version != officialClientVersion {
		t.Errorf("ran %s %s; want %s", officialClientName, out.Version, officialClientVersion)
	}

	// The official client saw the Go store's record with the library's field names and JSON types; the
	// field the update cleared is an explicit null, as InstantDB returns it.
	wantTypes := map[string]string{"sandboxUrl": "null",
		"id": "string", "externalSandboxId": "string", "provider": "string", "status": "string", "runtime": "string",
		"purpose": "string", "timeout": "number", "vcpus": "number", "createdAt": "number", "updatedAt": "number",
		"shutdownAt": "number", "ports": "array:number,number", "params": "object",
	}
	if !reflect.DeepEqual(out.GoTypes, wantTypes) {
		t.Errorf("the official client read the Go record with types\n%v\nwant\n%v", out.GoTypes, wantTypes)
	}
	if out.GoRecord["createdAt"] != float64(1763912345678) || out.GoRecord["vcpus"] != 0.5 {
		t.Errorf("Go record as read by the client: %v", out.GoRecord)
	}

	// The Go store reads the client's record with canonical Go types.
	rec, err := s.Get(ctx, backend.EntitySandboxes, out.ClientRecordID)
	if err != nil {
		t.Fatalf("Get of the client's record: %v", err)
	}
	want := backend.Attrs{
		"status": "creating", "provider": "sprites", "runtime": "node22", "vcpus": 1.5, "ports": []any{int64(3000)},
		"purpose": "from-client", "createdAt": int64(1763912345678), "updatedAt": int64(1763912345678),
		"params": map[string]any{"sprites": map[string]any{"name": "ekairos-" + out.ClientRecordID}, "n": 2.5},
	}
	if !reflect.DeepEqual(rec.Attrs, want) {
		t.Errorf("the Go store read the client's record as\n%#v\nwant\n%#v", rec.Attrs, want)
	}
	recs, err := s.Query(ctx, backend.Query{Entity: backend.EntitySandboxes, Where: []backend.Cond{
		{Field: "purpose", Op: backend.OpEq, Value: "q"}, {Field: "createdAt", Op: backend.OpGt, Value: 101},
	}, OrderBy: "createdAt", Desc: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Errorf("the Go store's query over the client's records: %d records; want 3", len(recs))
	}
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
	dir := filepath.Join(parent, "instantdb-admin-"+officialClientVersion)
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
	// Few, short fetch retries: without a registry, npm's defaults take over a minute to give up.
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-update-notifier",
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
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", "@instantdb", "admin", "package.json"))
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
