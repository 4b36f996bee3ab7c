//go:build linux

package local

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// needRootProvider skips unless the tests run as root (the provider then runs sandboxes as the sandbox user).
func needRootProvider(t *testing.T) *Engine {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: sandboxes run as the provider's own user")
	}
	e := newBwrap(t)
	if e.sandboxUID != DefaultSandboxUID || e.sandboxGID != DefaultSandboxUID {
		t.Fatalf("sandbox ids %d:%d, want %d", e.sandboxUID, e.sandboxGID, DefaultSandboxUID)
	}
	return e
}

// hostIDs returns the Uid and Gid lines of /proc/<pid>/status (real, effective, saved, file system).
func hostIDs(t *testing.T, pid int) (uid, gid string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatalf("status of %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid = strings.Join(strings.Fields(v), " ")
		}
		if v, ok := strings.CutPrefix(line, "Gid:"); ok {
			gid = strings.Join(strings.Fields(v), " ")
		}
	}
	return uid, gid
}

// owner returns the host owner of p (not following a symlink).
func owner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("%v", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("no stat of %s", p)
	}
	return st.Uid, st.Gid
}

// TestSandboxUserNotHostRoot: with the provider as root, a sandbox's init and commands run as the sandbox user
// on the host (the Uid line of /proc/<pid>/status), while they are uid 0 inside, and every file the sandbox
// writes (home, volume, files written through WriteFile, a set-user-id copy of sh) is the sandbox user's.
func TestSandboxUserNotHostRoot(t *testing.T) {
	t.Parallel()
	e := needRootProvider(t)
	ctx := context.Background()
	vol, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID(), Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.DeleteVolume(context.Background(), vol.ExternalID) })
	sb := create(t, e, backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: "data", ExternalID: vol.ExternalID, MountPath: "/data"}}})
	dir := metaString(t, sb, "dir")
	home := filepath.Join(dir, homeDir)
	if err := e.WriteFile(ctx, sb.ExternalID, "api/deep/written.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	res := sh(t, e, sb.ExternalID, `id -u; echo x > made; mkdir made.d; cp /bin/sh shcopy && chmod 4755 shcopy; echo v > /data/v.txt; echo more >> api/deep/written.txt && echo ok`)
	if string(res.Stdout) != "0\nok\n" {
		t.Fatalf("commands: %q, stderr %q", res.Stdout, res.Stderr)
	}
	want := uint32(DefaultSandboxUID)
	for _, p := range []string{home, filepath.Join(home, "made"), filepath.Join(home, "made.d"), filepath.Join(home, "shcopy"),
		filepath.Join(home, "api"), filepath.Join(home, "api/deep"), filepath.Join(home, "api/deep/written.txt"),
		filepath.Join(e.volumeDir(vol.ExternalID), volumeDataDir), filepath.Join(e.volumeDir(vol.ExternalID), volumeDataDir, "v.txt")} {
		if uid, gid := owner(t, p); uid != want || gid != want {
			t.Errorf("%s is owned by %d:%d on the host, want the sandbox user %d", p, uid, gid, want)
		}
	}

	// The host view of the init (the spawner, pid 1 inside) and of a running command.
	rec := readInitRecord(filepath.Join(dir, runDir))
	if rec == nil {
		t.Fatal("no init record")
	}
	wantIDs := strings.Repeat(strconv.Itoa(DefaultSandboxUID)+" ", 4)
	wantIDs = wantIDs[:len(wantIDs)-1]
	if uid, gid := hostIDs(t, rec.Init.PID); uid != wantIDs || gid != wantIDs {
		t.Errorf("the sandbox's init runs as Uid %q Gid %q on the host, want %q", uid, gid, wantIDs)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.Exec(cctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sleep", "60"}})
	}()
	defer func() { cancel(); <-done }()
	var pid int
	for deadline := time.Now().Add(time.Minute); pid == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		// With cgroups, the command is in the sandbox's cmds cgroup (and has no run file); without, in run/.
		if cg := hostCgroups(); cg.err == nil {
			b, _ := os.ReadFile(filepath.Join(cg.bases[0], cgroupName(dir), cgCmds, "cgroup.procs"))
			if f := strings.Fields(string(b)); len(f) > 0 {
				pid, _ = strconv.Atoi(f[0])
			}
			continue
		}
		ents, _ := os.ReadDir(filepath.Join(dir, runDir))
		for _, ent := range ents {
			if ent.Name() == initRecordFile || !strings.HasSuffix(ent.Name(), ".json") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, runDir, ent.Name()))
			var rf runFile
			if err == nil && json.Unmarshal(b, &rf) == nil && rf.Group.PID > 1 {
				pid = rf.Group.PID
			}
		}
	}
	if pid == 0 {
		t.Fatal("the command was never recorded")
	}
	if uid, gid := hostIDs(t, pid); uid != wantIDs || gid != wantIDs {
		t.Errorf("a command runs as Uid %q Gid %q on the host, want %q", uid, gid, wantIDs)
	}
}

// TestOlderFilesGivenToSandboxUser: the home of a sandbox, the artifact of a setup and a volume that an older
// version made as root are given to the sandbox user when a command runs, so that the sandbox keeps working.
func TestOlderFilesGivenToSandboxUser(t *testing.T) {
	t.Parallel()
	e := needRootProvider(t)
	ctx := context.Background()
	chownRoot := func(p string) {
		t.Helper()
		if out, err := exec.Command("chown", "-R", "-h", "0:0", p).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v: %s", err, out)
		}
	}

	// A plain home and a volume.
	vol, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID(), Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.DeleteVolume(context.Background(), vol.ExternalID) })
	sb := create(t, e, backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: "data", ExternalID: vol.ExternalID, MountPath: "/data"}}})
	home := filepath.Join(metaString(t, sb, "dir"), homeDir)
	if err := os.MkdirAll(filepath.Join(home, "old/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "old/dir/f"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A symlink in the home to a host directory: its target is never given to the sandbox user.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(home, "escape")); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(e.volumeDir(vol.ExternalID), volumeDataDir)
	chownRoot(home)
	chownRoot(data)
	res := sh(t, e, sb.ExternalID, `echo new >> old/dir/f && touch old/dir/g && echo v > /data/v && cat old/dir/f`)
	if res.ExitCode != 0 || string(res.Stdout) != "old"+"new\n" {
		t.Errorf("a home made as root: %+v, stdout %q, stderr %q", res, res.Stdout, res.Stderr)
	}
	for _, p := range []string{home, filepath.Join(home, "old/dir/f"), filepath.Join(home, "escape"), data} {
		if uid, _ := owner(t, p); uid != DefaultSandboxUID {
			t.Errorf("%s is owned by %d, want the sandbox user", p, uid)
		}
	}
	for _, p := range []string{outside, filepath.Join(outside, "victim")} {
		if uid, _ := owner(t, p); uid != 0 {
			t.Errorf("%s, outside the home behind a symlink, is owned by %d: the migration followed the symlink", p, uid)
		}
	}

	// A setup artifact made as root, under a sandbox's overlay (or copied) home.
	art := buildProject(t, e)
	artHome, _ := art.Metadata["home"].(string)
	chownRoot(artHome)
	sb2 := create(t, e, backend.SandboxSpec{Setup: art.ExternalID})
	dir2 := metaString(t, sb2, "dir")
	if sb2.Metadata["setup_copy"] == CopyOverlay {
		chownRoot(filepath.Join(dir2, upperDir))
	} else {
		chownRoot(filepath.Join(dir2, homeDir))
	}
	res = sh(t, e, sb2.ExternalID, `printf v2 > proj/version && echo x > proj/deep/er/file && touch proj/newfile && cat proj/version`)
	if res.ExitCode != 0 || string(res.Stdout) != "v2" {
		t.Errorf("a sandbox on a setup made as root: %+v, stdout %q, stderr %q", res, res.Stdout, res.Stderr)
	}
}
