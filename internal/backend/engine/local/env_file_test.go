package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// TestEmptyEnvSyncsNoFile: a sandbox without env has no env.json, so its create syncs two files (the first
// metadata, which makes the directory findable by its record id, and the last, which says it is complete),
// not three; an env set later is written (synced) and seen by commands, and an env emptied again is removed,
// so no command sees the old values.
func TestEmptyEnvSyncsNoFile(t *testing.T) {
	e := newNone(t)
	ctx := context.Background()
	before := fileSyncs.Load()
	sb := create(t, e, backend.SandboxSpec{})
	if n := fileSyncs.Load() - before; n != 2 {
		t.Errorf("a create without env synced %d files, want 2", n)
	}
	dir := metaString(t, sb, "dir")
	if _, err := os.Stat(filepath.Join(dir, envFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("env.json of a sandbox without env: %v, want none", err)
	}
	printEnv := func() string {
		res, err := e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "echo \"[$WHO]\""}})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("exec: %+v %v", res, err)
		}
		return strings.TrimSpace(string(res.Stdout))
	}
	if got := printEnv(); got != "[]" {
		t.Errorf("WHO = %s in a sandbox without env", got)
	}
	if _, err := e.UpdateSandbox(ctx, sb.ExternalID, backend.SandboxSpec{RecordID: sb.RecordID, Env: map[string]string{"WHO": "me"}}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, envFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("env.json after setting an env: %v, %v", fi, err)
	}
	if got := printEnv(); got != "[me]" {
		t.Errorf("WHO = %s after setting it", got)
	}
	if _, err := e.UpdateSandbox(ctx, sb.ExternalID, backend.SandboxSpec{RecordID: sb.RecordID}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, envFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("env.json after emptying the env: %v, want none", err)
	}
	if got := printEnv(); got != "[]" {
		t.Errorf("WHO = %s after the env was emptied", got)
	}
	before = fileSyncs.Load()
	create(t, e, backend.SandboxSpec{Env: map[string]string{"WHO": "x"}})
	if n := fileSyncs.Load() - before; n != 3 {
		t.Errorf("a create with env synced %d files, want 3", n)
	}
}
