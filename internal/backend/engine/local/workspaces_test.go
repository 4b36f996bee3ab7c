//go:build linux

package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

func wsExec(t *testing.T, e *Engine, ext, script string) *backend.ExecResult {
	t.Helper()
	res, err := e.ExecWorkspace(context.Background(), ext, backend.ExecRequest{Argv: []string{"sh", "-c", script}, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("ExecWorkspace(%q): %v", script, err)
	}
	return res
}

// TestWorkspace: a workspace starts from its setup, its files persist across commands, engines and remounts,
// its env stays out of its metadata, sandboxes can work on it, and it goes only when no sandbox uses it.
func TestWorkspace(t *testing.T) {
	t.Parallel()
	e := newBwrap(t)
	ctx := context.Background()
	art := buildProject(t, e)
	artHome, _ := art.Metadata["home"].(string)
	id := backend.NewID()
	secret := "ws-secret-" + backend.NewID()
	ws, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: id, Name: "dev", Setup: art.ExternalID,
		Env: map[string]string{"WS_SECRET": secret}, Ports: []int{3000}, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	if ws.ExternalID != "ws-"+id || ws.RecordID != id || ws.Name != "dev" || ws.State != backend.WorkspaceActive {
		t.Errorf("CreateWorkspace = %+v", ws)
	}
	if ws.Metadata["setup_copy"] != expectedCopy(e) || ws.Metadata["timeout_ms"] != int64(30000) {
		t.Errorf("Metadata = %v", ws.Metadata)
	}
	if _, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: id}); !errors.Is(err, backend.ErrConflict) {
		t.Errorf("second CreateWorkspace = %v, want ErrConflict", err)
	}

	res := wsExec(t, e, ws.ExternalID, `cat proj/version; echo "|$WS_SECRET|$HOME|$(pwd)"; echo one >> counter`)
	if want := "v1|" + secret + "|/home/sandbox|/home/sandbox\n"; string(res.Stdout) != want {
		t.Errorf("first command: %q (stderr %q), want %q", res.Stdout, res.Stderr, want)
	}
	res = wsExec(t, e, ws.ExternalID, `echo two >> counter; printf v2 > proj/version; cat counter`)
	if string(res.Stdout) != "one\ntwo\n" {
		t.Errorf("second command sees %q", res.Stdout)
	}
	checkArtifactIntactVersion(t, artHome)

	dir := metaString(t, &backend.Sandbox{Metadata: ws.Metadata}, "dir")
	if b, err := os.ReadFile(filepath.Join(dir, workspaceFile)); err != nil || bytes.Contains(b, []byte(secret)) {
		t.Errorf("workspace.json holds the env value (or cannot be read: %v)", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, envFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("env.json: %v, %v", fi, err)
	}

	// Durable: another engine on the root (another provider process), and after the overlay is gone (a reboot).
	other, err := New(Config{Root: e.Root()})
	if err != nil {
		t.Fatal(err)
	}
	if err := unmountHome(dir); err != nil {
		t.Fatal(err)
	}
	if res := wsExec(t, other, ws.ExternalID, `cat counter proj/version`); string(res.Stdout) != "one\ntwo\nv2" {
		t.Errorf("after a remount, from another engine: %q (stderr %q)", res.Stdout, res.Stderr)
	}

	got, err := e.GetWorkspace(ctx, ws.ExternalID)
	if err != nil || got.Name != "dev" {
		t.Errorf("GetWorkspace = %+v, %v", got, err)
	}
	if got, err := e.FindWorkspace(ctx, id); err != nil || got.ExternalID != ws.ExternalID {
		t.Errorf("FindWorkspace = %+v, %v", got, err)
	}
	if list, err := e.ListWorkspaces(ctx); err != nil || len(list) != 1 || list[0].ExternalID != ws.ExternalID {
		t.Errorf("ListWorkspaces = %v, %v", list, err)
	}

	// In-place update: env and timeout apply to the next command.
	upd, err := e.UpdateWorkspace(ctx, ws.ExternalID, backend.WorkspaceSpec{RecordID: id, Env: map[string]string{"WS_SECRET": "new"}, Timeout: time.Second})
	if err != nil || upd.Name != "dev" || upd.Metadata["timeout_ms"] != int64(1000) {
		t.Fatalf("UpdateWorkspace = %+v, %v", upd, err)
	}
	res, err = e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", `echo "$WS_SECRET"; sleep 10`}})
	if err != nil || !res.TimedOut || string(res.Stdout) != "new\n" {
		t.Errorf("after the update: %+v, %v; want the new env and a timeout after 1s", res, err)
	}

	// A sandbox working on the workspace shares its files; the workspace cannot go while it exists.
	sb := create(t, e, backend.SandboxSpec{Workspace: ws.ExternalID})
	if res := sh(t, e, sb.ExternalID, `cat counter; echo from-sandbox > sb.txt`); string(res.Stdout) != "one\ntwo\n" {
		t.Errorf("a sandbox on the workspace sees %q (stderr %q)", res.Stdout, res.Stderr)
	}
	if b, err := e.ReadFile(ctx, sb.ExternalID, "sb.txt"); err != nil || string(b) != "from-sandbox\n" {
		t.Errorf("ReadFile in a sandbox on the workspace = %q, %v", b, err)
	}
	if res := wsExec(t, e, ws.ExternalID, `cat sb.txt`); string(res.Stdout) != "from-sandbox\n" {
		t.Errorf("the workspace sees %q", res.Stdout)
	}
	err = e.DeleteWorkspace(ctx, ws.ExternalID)
	if !errors.Is(err, backend.ErrInUse) || !strings.Contains(err.Error(), sb.ExternalID) {
		t.Errorf("DeleteWorkspace while a sandbox uses it = %v, want ErrInUse naming %s", err, sb.ExternalID)
	}
	if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if res := wsExec(t, e, ws.ExternalID, `cat sb.txt`); string(res.Stdout) != "from-sandbox\n" {
		t.Errorf("the workspace after its sandbox was deleted sees %q", res.Stdout)
	}

	if err := e.DeleteWorkspace(ctx, ws.ExternalID); err != nil {
		t.Fatalf("DeleteWorkspace: %v", err)
	}
	if _, err := e.GetWorkspace(ctx, ws.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetWorkspace after delete = %v", err)
	}
	if _, err := e.ExecWorkspace(ctx, ws.ExternalID, backend.ExecRequest{Argv: []string{"true"}}); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("ExecWorkspace after delete = %v", err)
	}
	if err := e.DeleteWorkspace(ctx, ws.ExternalID); err != nil {
		t.Errorf("DeleteWorkspace of a missing workspace = %v", err)
	}
	if m := mountsUnder(t, e.Root()); len(m) != 0 {
		t.Errorf("mounts left: %v", m)
	}
	checkArtifactIntactVersion(t, artHome)
}

func checkArtifactIntactVersion(t *testing.T, home string) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(home, "proj", "version")); err != nil || string(b) != "v1" {
		t.Errorf("the artifact's version is %q, %v", b, err)
	}
	for _, p := range []string{"counter", "sb.txt"} {
		if _, err := os.Stat(filepath.Join(home, p)); err == nil {
			t.Errorf("the workspace's %s reached the artifact", p)
		}
	}
}

// TestWorkspaceEmpty: a workspace without a setup starts empty and has its policy.
func TestWorkspaceEmpty(t *testing.T) {
	t.Parallel()
	e := newBwrap(t)
	ctx := context.Background()
	ws, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: backend.NewID(), Policy: &backend.NetworkPolicy{Mode: backend.PolicyAllowAll}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.DeleteWorkspace(context.Background(), ws.ExternalID) })
	if ws.Metadata["network"] != "host" || ws.Metadata["setup_copy"] != nil {
		t.Errorf("Metadata = %v", ws.Metadata)
	}
	if res := wsExec(t, e, ws.ExternalID, `ls -A; touch a`); string(res.Stdout) != "" || res.ExitCode != 0 {
		t.Errorf("an empty workspace: %+v %q", res, res.Stdout)
	}
	if res := wsExec(t, e, ws.ExternalID, `ls -A`); string(res.Stdout) != "a\n" {
		t.Errorf("the workspace keeps %q", res.Stdout)
	}
	for name, spec := range map[string]backend.WorkspaceSpec{
		"bad setup":  {RecordID: backend.NewID(), Setup: "nope"},
		"no setup":   {RecordID: backend.NewID(), Setup: "setup-0123456789abcdef"},
		"bad record": {RecordID: "../x"},
		"bad port":   {RecordID: backend.NewID(), Ports: []int{0}},
	} {
		if _, err := e.CreateWorkspace(ctx, spec); err == nil {
			t.Errorf("CreateWorkspace with %s = nil error", name)
		}
	}
	if list, _ := e.ListWorkspaces(ctx); len(list) != 1 {
		t.Errorf("ListWorkspaces after failed creates = %v", list)
	}
	if _, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Workspace: "ws-nope"}); err == nil {
		t.Errorf("CreateSandbox on a missing workspace = nil error")
	}
}
