//go:build linux

package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestAbandonedNewDirsRemovedAtOnce: the half-made directory of a create whose process was killed (its pid in
// the name no longer runs) is removed by the next listing, not an hour later; one of a live process stays.
func TestAbandonedNewDirsRemovedAtOnce(t *testing.T) {
	e := newNone(t)
	ctx := context.Background()
	if _, err := e.ListSandboxes(ctx); err != nil {
		t.Fatal(err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	parent := e.sandboxesDir()
	if err := os.MkdirAll(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(parent, ".new-local-0c3049d9-f4af-4ee6-a6c8-8c16b2a90487-"+strconv.Itoa(dead.Process.Pid)+"-123")
	live := filepath.Join(parent, ".new-local-1c3049d9-f4af-4ee6-a6c8-8c16b2a90487-"+strconv.Itoa(os.Getpid())+"-456")
	for _, d := range []string{gone, live} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ListSandboxes(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("the directory of a killed create is still there (stat: %v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the directory of a create still running was removed: %v", err)
	}
}
