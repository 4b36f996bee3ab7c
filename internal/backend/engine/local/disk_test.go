//go:build linux

package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// skipWithoutDisks skips a test where disk images cannot be enforced (not root, no loop devices, no mkfs.ext4).
func skipWithoutDisks(t *testing.T) {
	t.Helper()
	if err := diskImagesWork(); err != nil {
		t.Skipf("disk_mb cannot be enforced here: %v", err)
	}
}

// mountsOn counts the mounts of this (the host's) mount namespace on the path p.
func mountsOn(t *testing.T, p string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			n++
		}
	}
	return n
}

// unmountAtCleanup unmounts p when the test ends (a test that stopped midway must not leave a mount in the
// temporary directory, which could then not be removed); registered before the cleanups that delete the
// sandboxes and volumes, it runs after them.
func unmountAtCleanup(t *testing.T, p string) {
	t.Cleanup(func() { _ = unmountAt(p) })
}

// hostBytes is what the file p takes on the host's disk.
func hostBytes(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestVolumeDiskLimit: a volume with disk_mb is one ext4 image mounted once on the host; every sandbox that
// mounts the volume binds that mount: two sandboxes see the same data at once, writing past the size fails
// with ENOSPC inside the volume only (the sandbox's home and the host are unaffected), the data survives the
// replacement of a sandbox and a remount (a reboot), concurrent first uses mount it once, and the delete of
// the volume (refused while a sandbox mounts it) unmounts it.
func TestVolumeDiskLimit(t *testing.T) {
	skipWithoutDisks(t)
	e := newBwrap(t)
	ctx := context.Background()
	volID := backend.NewID()
	vol, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: volID, Name: "sized", Options: map[string]any{OptionDiskMB: 32}})
	if err != nil {
		t.Fatalf("CreateVolume with disk_mb: %v", err)
	}
	vdir := e.volumeDir(vol.ExternalID)
	data := filepath.Join(vdir, volumeDataDir)
	unmountAtCleanup(t, data)
	if n := mountsOn(t, data); n != 1 {
		t.Fatalf("the volume's image is mounted %d times on %s, want once", n, data)
	}
	mountAt := func(p string) []backend.VolumeMount {
		return []backend.VolumeMount{{VolumeID: volID, ExternalID: vol.ExternalID, MountPath: p}}
	}
	a, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Volumes: mountAt("/data")})
	if err != nil {
		t.Fatal(err)
	}
	b := create(t, e, backend.SandboxSpec{Volumes: mountAt("/home/sandbox/shared")})

	res := sh(t, e, a.ExternalID, `head -c 8000000 /dev/zero > /data/small && echo fits; head -c 64000000 /dev/zero > /data/big; echo "rc=$?"; rm -f /data/big; head -c 1000000 /dev/zero > inhome && echo home-ok`)
	out := string(res.Stdout)
	if !strings.Contains(out, "fits\n") || strings.Contains(out, "rc=0") || !strings.Contains(string(res.Stderr), "No space left") || !strings.Contains(out, "home-ok") {
		t.Errorf("8 MB then 64 MB into a 32 MiB volume, then 1 MB into the home: %q (stderr %q), want the first to fit, the second to fail with ENOSPC, the home to be unaffected", out, res.Stderr)
	}
	if used := hostBytes(t, filepath.Join(vdir, volumeImageFile)); used > 33<<20 {
		t.Errorf("the volume's image takes %d bytes on the host, more than its 32 MiB", used)
	}
	if res := sh(t, e, b.ExternalID, `wc -c < shared/small; echo more > shared/from-b`); string(res.Stdout) != "8000000\n" || res.ExitCode != 0 {
		t.Errorf("the second sandbox on the volume: %q (stderr %q)", res.Stdout, res.Stderr)
	}
	if res := sh(t, e, a.ExternalID, `cat /data/from-b`); string(res.Stdout) != "more\n" {
		t.Errorf("the first sandbox does not see the second's write: %q (stderr %q)", res.Stdout, res.Stderr)
	}
	if n := mountsOn(t, data); n != 1 {
		t.Errorf("with two sandboxes on it, the volume's image is mounted %d times on the host, want once", n)
	}
	if err := e.DeleteVolume(ctx, vol.ExternalID); !errors.Is(err, backend.ErrInUse) {
		t.Errorf("DeleteVolume while mounted = %v, want ErrInUse", err)
	}
	if n := mountsOn(t, data); n != 1 {
		t.Errorf("a refused delete left the image mounted %d times, want once", n)
	}

	// The sandbox is replaced: its successor finds the data.
	if err := e.DeleteSandbox(ctx, a.ExternalID); err != nil {
		t.Fatal(err)
	}
	c := create(t, e, backend.SandboxSpec{Volumes: mountAt("/data")})
	if res := sh(t, e, c.ExternalID, `wc -c < /data/small`); string(res.Stdout) != "8000000\n" {
		t.Errorf("after the sandbox's replacement: %q (stderr %q)", res.Stdout, res.Stderr)
	}

	// A reboot: the image is no longer mounted; the next commands of two sandboxes (from another engine on the
	// root, at once) mount it once, and the data is there.
	if err := e.StopSandbox(ctx, b.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := e.StopSandbox(ctx, c.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := unmountAt(data); err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Root: e.Root()})
	if err != nil {
		t.Fatal(err)
	}
	for _, sb := range []*backend.Sandbox{b, c} {
		if err := other.StartSandbox(ctx, sb.ExternalID); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i, s := range []struct{ ext, file string }{{b.ExternalID, "shared/small"}, {c.ExternalID, "/data/small"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := other.Exec(ctx, s.ext, backend.ExecRequest{Argv: []string{"sh", "-c", "wc -c < " + s.file}})
			if err != nil {
				outs[i] = err.Error()
				return
			}
			outs[i] = string(r.Stdout) + string(r.Stderr)
		}()
	}
	wg.Wait()
	for i, o := range outs {
		if o != "8000000\n" {
			t.Errorf("sandbox %d after a remount: %q", i, o)
		}
	}
	if n := mountsOn(t, data); n != 1 {
		t.Errorf("after concurrent first uses, the volume's image is mounted %d times on the host, want once", n)
	}

	// Destroyed once no sandbox mounts it: unmounted (its loop device released) and removed.
	for _, sb := range []*backend.Sandbox{b, c} {
		if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.DeleteVolume(ctx, vol.ExternalID); err != nil {
		t.Fatalf("DeleteVolume: %v", err)
	}
	if n := mountsOn(t, data); n != 0 {
		t.Errorf("the deleted volume's image is still mounted (%d)", n)
	}
	if _, err := os.Stat(vdir); !os.IsNotExist(err) {
		t.Errorf("the volume's directory after delete: %v", err)
	}
}

// TestVolumeOptionsRefused: a local volume takes disk_mb only, at least MinDiskMB, each refusal on its option.
func TestVolumeOptionsRefused(t *testing.T) {
	e := newBwrap(t)
	for _, tc := range []struct {
		opts   map[string]any
		option string
		want   string
	}{
		{map[string]any{"size": 1}, "", `unknown local volume option "size"`},
		{map[string]any{OptionMemoryMB: 64}, "", `unknown local volume option "memory_mb"`},
		{map[string]any{OptionDiskMB: 8}, OptionDiskMB, "too small"},
		{map[string]any{OptionDiskMB: -1}, OptionDiskMB, "negative"},
	} {
		err := e.ValidateVolumeSpec(backend.VolumeSpec{Options: tc.opts})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateVolumeSpec(%v) = %v, want %q", tc.opts, err, tc.want)
			continue
		}
		var ae *backend.AttrError
		if tc.option != "" && (!errors.As(err, &ae) || strings.Join(ae.Path, ".") != "local."+tc.option) {
			t.Errorf("ValidateVolumeSpec(%v) = %v, want it on local.%s", tc.opts, err, tc.option)
		}
		if _, err := e.CreateVolume(context.Background(), backend.VolumeSpec{RecordID: backend.NewID(), Options: tc.opts}); err == nil {
			t.Errorf("CreateVolume(%v) succeeded", tc.opts)
		}
	}
	err := e.ValidateVolumeSpec(backend.VolumeSpec{Options: map[string]any{OptionDiskMB: 32}})
	if werr := diskImagesWork(); (werr == nil) != (err == nil) {
		t.Errorf("ValidateVolumeSpec(disk_mb = 32) = %v where disk images work: %v", err, werr)
	}
	if err != nil {
		var ae *backend.AttrError
		if !errors.As(err, &ae) || strings.Join(ae.Path, ".") != "local.disk_mb" || !strings.Contains(err.Error(), "cannot be enforced on this host") {
			t.Errorf("the refusal of disk_mb = %v, want it on local.disk_mb with the reason", err)
		}
	}
}

// TestWorkspaceDiskLimit: a workspace with disk_mb has its home (its durable files) in an ext4 image of that
// size, filled from its setup: writing past it fails with ENOSPC inside, through the workspace and through a
// sandbox working on it, and the host holds no more than the size; its /tmp is capped too (tmp_mb); disk_mb
// cannot shrink; a delete unmounts it.
func TestWorkspaceDiskLimit(t *testing.T) {
	skipWithoutDisks(t)
	e := newBwrap(t)
	ctx := context.Background()
	art := buildProject(t, e)
	ws, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: backend.NewID(), Name: "dev", Setup: art.ExternalID,
		Options: map[string]any{OptionDiskMB: 32, OptionTmpMB: 16}})
	if err != nil {
		t.Fatalf("CreateWorkspace with disk_mb: %v", err)
	}
	dir := e.workspaceDir(ws.ExternalID)
	unmountAtCleanup(t, filepath.Join(dir, homeDir))
	if !homeMounted(dir) {
		t.Fatalf("the workspace's home is not a file system of its own")
	}
	res := wsExec(t, e, ws.ExternalID, `cat proj/version && head -c 8000000 /dev/zero > small && echo fits; head -c 64000000 /dev/zero > big; echo "rc=$?"; rm -f big; head -c 32000000 /dev/zero > /tmp/big; echo "tmp=$?"`)
	out := string(res.Stdout)
	if !strings.HasPrefix(out, "v1fits\n") || strings.Contains(out, "rc=0") || strings.Contains(out, "tmp=0") || strings.Count(string(res.Stderr), "No space left") != 2 {
		t.Errorf("the setup's files, 8 MB then 64 MB into a 32 MiB workspace, 32 MB into its 16 MiB /tmp: %q (stderr %q)", out, res.Stderr)
	}
	if used := hostBytes(t, filepath.Join(dir, diskImageFile)); used > 33<<20 {
		t.Errorf("the workspace's image takes %d bytes on the host, more than its 32 MiB", used)
	}
	sb := create(t, e, backend.SandboxSpec{Workspace: ws.ExternalID})
	res = sh(t, e, sb.ExternalID, `wc -c < small; head -c 64000000 /dev/zero > big2; echo "rc=$?"; rm -f big2`)
	if !strings.HasPrefix(string(res.Stdout), "8000000\n") || strings.Contains(string(res.Stdout), "rc=0") || !strings.Contains(string(res.Stderr), "No space left") {
		t.Errorf("a sandbox on the workspace: %q (stderr %q), want the file and ENOSPC", res.Stdout, res.Stderr)
	}
	// A reboot: the next command mounts the image again, and the files are there.
	if err := e.DeleteSandbox(ctx, sb.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := unmountHome(dir); err != nil {
		t.Fatal(err)
	}
	if res := wsExec(t, e, ws.ExternalID, `wc -c < small`); string(res.Stdout) != "8000000\n" {
		t.Errorf("after a remount: %q (stderr %q)", res.Stdout, res.Stderr)
	}
	_, err = e.UpdateWorkspace(ctx, ws.ExternalID, backend.WorkspaceSpec{Options: map[string]any{OptionDiskMB: 16}})
	var ae *backend.AttrError
	if !errors.As(err, &ae) || strings.Join(ae.Path, ".") != "local.disk_mb" {
		t.Errorf("UpdateWorkspace shrinking disk_mb = %v, want a refusal on local.disk_mb", err)
	}
	if _, err := e.UpdateWorkspace(ctx, ws.ExternalID, backend.WorkspaceSpec{Options: map[string]any{OptionDiskMB: 32}}); err != nil {
		t.Errorf("UpdateWorkspace keeping disk_mb: %v", err)
	}
	if err := e.DeleteWorkspace(ctx, ws.ExternalID); err != nil {
		t.Fatal(err)
	}
	if n := mountsOn(t, filepath.Join(dir, homeDir)); n != 0 {
		t.Errorf("the deleted workspace's image is still mounted (%d)", n)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the workspace's directory after delete: %v", err)
	}
}

// TestFilesOnVolumes: the files API writes and reads where the sandbox's commands see the path: in an engine
// volume mounted under the home or elsewhere (a sized one too), never in the home's directory under the mount
// point (where the sandbox would not see it); a symlink out of a volume is refused, and a host directory mounted
// as a volume is not written through the files API.
func TestFilesOnVolumes(t *testing.T) {
	e := newBwrap(t)
	ctx := context.Background()
	opts := map[string]any{}
	if diskImagesWork() == nil {
		opts[OptionDiskMB] = 16
	}
	v1, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID(), Name: "inhome"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID(), Name: "elsewhere", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	unmountAtCleanup(t, filepath.Join(e.volumeDir(v2.ExternalID), volumeDataDir))
	t.Cleanup(func() {
		if err := e.DeleteVolume(context.Background(), v2.ExternalID); err != nil {
			t.Errorf("DeleteVolume: %v", err)
		}
	})
	hostDir := t.TempDir()
	sb := create(t, e, backend.SandboxSpec{Volumes: []backend.VolumeMount{
		{VolumeID: v1.RecordID, ExternalID: v1.ExternalID, MountPath: "/home/sandbox/shared"},
		{VolumeID: v2.RecordID, ExternalID: v2.ExternalID, MountPath: "/data"},
		{VolumeID: "host", ExternalID: hostDir, MountPath: "/host"},
	}})
	home := metaString(t, sb, "home")
	for p, content := range map[string]string{
		"shared/a.txt":                   "a",
		"/home/sandbox/shared/sub/b.txt": "b",
		"/data/c/d.txt":                  "d",
		home + "/shared/e.txt":           "e",
		"mine.txt":                       "home",
	} {
		if err := e.WriteFile(ctx, sb.ExternalID, p, []byte(content)); err != nil {
			t.Errorf("WriteFile(%q): %v", p, err)
		}
	}
	res := sh(t, e, sb.ExternalID, `cat shared/a.txt shared/sub/b.txt /data/c/d.txt shared/e.txt mine.txt; printf x > shared/f.txt; printf y > /data/g.txt; ln -s /etc/hostname /data/link`)
	if string(res.Stdout) != "abdehome" {
		t.Errorf("the sandbox reads what WriteFile wrote: %q (stderr %q), want %q", res.Stdout, res.Stderr, "abdehome")
	}
	// Nothing landed in the home's directory under the mount point.
	if _, err := os.Stat(filepath.Join(home, "shared", "a.txt")); !os.IsNotExist(err) {
		t.Errorf("a.txt is in the home's directory under the mount point: %v", err)
	}
	for p, want := range map[string]string{"shared/f.txt": "x", "/data/g.txt": "y", "/home/sandbox/shared/a.txt": "a"} {
		if b, err := e.ReadFile(ctx, sb.ExternalID, p); err != nil || string(b) != want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", p, b, err, want)
		}
	}
	if e.sandboxUID >= 0 {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(e.volumeDir(v2.ExternalID), volumeDataDir, "c", "d.txt"), &st); err != nil || int(st.Uid) != e.sandboxUID {
			t.Errorf("a file written into a volume is owned by %d (%v), want the sandbox uid %d", st.Uid, err, e.sandboxUID)
		}
	}
	for _, p := range []string{"/data/link", "/data/../etc/x", "/host/x"} {
		if err := e.WriteFile(ctx, sb.ExternalID, p, []byte("no")); err == nil {
			t.Errorf("WriteFile(%q) = nil, want an error", p)
		}
	}
	if b, err := e.ReadFile(ctx, sb.ExternalID, "/data/link"); err == nil {
		t.Errorf("ReadFile through a symlink out of the volume = %q, want an error", b)
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) != 0 {
		t.Errorf("the host directory got %v", ents)
	}
}

// TestDiskGrowsInPlace: a larger disk_mb grows a volume's image under a sandbox that uses it (online where the
// host lets root resize a mounted file system, else offline after stopping the idle init that holds it), and a
// workspace's both mounted and unmounted: the files stay and the new room is usable; while a command runs, a
// host that cannot grow online refuses with the reason; shrinking, adding and removing the disk are refused on
// local.disk_mb.
func TestDiskGrowsInPlace(t *testing.T) {
	skipWithoutDisks(t)
	e := newBwrap(t)
	ctx := context.Background()
	vol, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID(), Name: "grow", Options: map[string]any{OptionDiskMB: 16}})
	if err != nil {
		t.Fatal(err)
	}
	unmountAtCleanup(t, filepath.Join(e.volumeDir(vol.ExternalID), volumeDataDir))
	t.Cleanup(func() { _ = e.DeleteVolume(context.Background(), vol.ExternalID) })
	sb := create(t, e, backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: vol.RecordID, ExternalID: vol.ExternalID, MountPath: "/data"}}})
	res := sh(t, e, sb.ExternalID, `head -c 8000000 /dev/zero > /data/a && echo a-ok; head -c 24000000 /dev/zero > /data/b; echo "rc=$?"; rm -f /data/b`)
	if !strings.Contains(string(res.Stdout), "a-ok") || strings.Contains(string(res.Stdout), "rc=0") {
		t.Fatalf("before growing: %q (stderr %q)", res.Stdout, res.Stderr)
	}
	for _, bad := range []map[string]any{{OptionDiskMB: 16}, {OptionDiskMB: 0}, nil} {
		if _, err := e.UpdateVolume(ctx, vol.ExternalID, backend.VolumeSpec{Options: bad}); err != nil {
			// 16 -> 16 is no change; the others are refusals.
			var ae *backend.AttrError
			if !errors.As(err, &ae) || strings.Join(ae.Path, ".") != "local.disk_mb" {
				t.Errorf("UpdateVolume(%v) = %v, want a refusal on local.disk_mb", bad, err)
			}
		} else if bad[OptionDiskMB] != 16 {
			t.Errorf("UpdateVolume(%v) succeeded, want a refusal", bad)
		}
	}
	// While a command runs: grown online, or refused with the reason.
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.Exec(ctx, sb.ExternalID, backend.ExecRequest{Argv: []string{"sh", "-c", "echo busy > /data/busy; sleep 3"}})
	}()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join(e.volumeDir(vol.ExternalID), volumeDataDir, "busy")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := e.UpdateVolume(ctx, vol.ExternalID, backend.VolumeSpec{Options: map[string]any{OptionDiskMB: 24}}); err != nil && !strings.Contains(err.Error(), "commands still run") {
		t.Errorf("growing the volume while a command runs: %v, want it grown or refused for the running command", err)
	}
	<-done
	if _, err := e.UpdateVolume(ctx, vol.ExternalID, backend.VolumeSpec{Options: map[string]any{OptionDiskMB: 48}}); err != nil {
		t.Fatalf("growing the volume to 48 MiB: %v", err)
	}
	if _, err := e.UpdateVolume(ctx, vol.ExternalID, backend.VolumeSpec{Options: map[string]any{OptionDiskMB: 32}}); err == nil {
		t.Errorf("shrinking the volume from 48 to 32 MiB succeeded")
	}
	res = sh(t, e, sb.ExternalID, `wc -c < /data/a && head -c 24000000 /dev/zero > /data/b && echo grown`)
	if string(res.Stdout) != "8000000\ngrown\n" {
		t.Errorf("after growing under the running sandbox: %q (stderr %q), want the old file and room for 24 MB", res.Stdout, res.Stderr)
	}
	if got, err := e.GetVolume(ctx, vol.ExternalID); err != nil || got == nil {
		t.Errorf("GetVolume after growing: %v", err)
	}
	if m, err := e.readVolume(vol.ExternalID); err != nil || m.diskMB() != 48 {
		t.Errorf("the volume's recorded size after growing: %v, %v", m, err)
	}

	ws, err := e.CreateWorkspace(ctx, backend.WorkspaceSpec{RecordID: backend.NewID(), Name: "grow", Options: map[string]any{OptionDiskMB: 16}})
	if err != nil {
		t.Fatal(err)
	}
	dir := e.workspaceDir(ws.ExternalID)
	unmountAtCleanup(t, filepath.Join(dir, homeDir))
	t.Cleanup(func() { _ = e.DeleteWorkspace(context.Background(), ws.ExternalID) })
	if res := wsExec(t, e, ws.ExternalID, `head -c 8000000 /dev/zero > a && echo ok`); string(res.Stdout) != "ok\n" {
		t.Fatalf("writing the workspace: %q (stderr %q)", res.Stdout, res.Stderr)
	}
	if _, err := e.UpdateWorkspace(ctx, ws.ExternalID, backend.WorkspaceSpec{Options: map[string]any{OptionDiskMB: 32}}); err != nil {
		t.Fatalf("growing the mounted workspace from 16 to 32 MiB: %v", err)
	}
	if err := unmountHome(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateWorkspace(ctx, ws.ExternalID, backend.WorkspaceSpec{Options: map[string]any{OptionDiskMB: 64}}); err != nil {
		t.Fatalf("growing the unmounted workspace from 32 to 64 MiB: %v", err)
	}
	if res := wsExec(t, e, ws.ExternalID, `wc -c < a && head -c 40000000 /dev/zero > b && echo grown`); string(res.Stdout) != "8000000\ngrown\n" {
		t.Errorf("after growing the workspace: %q (stderr %q)", res.Stdout, res.Stderr)
	}
	for _, bad := range []map[string]any{{OptionDiskMB: 32}, nil} {
		_, err := e.UpdateWorkspace(ctx, ws.ExternalID, backend.WorkspaceSpec{Options: bad})
		var ae *backend.AttrError
		if !errors.As(err, &ae) || strings.Join(ae.Path, ".") != "local.disk_mb" {
			t.Errorf("UpdateWorkspace(%v) = %v, want a refusal on local.disk_mb", bad, err)
		}
	}
}

// TestVolumeRemountReusesLoop: when a sandbox's namespace still mounts a volume's image that the host no longer
// does, mounting it again on the host uses the same loop device (one file system, never two unsynchronized
// mounts of one image), and both sandboxes see each other's writes. (util-linux's mount -o loop reuses a loop
// device on the same file too; the engine mounts the attached device itself rather than rely on that.)
func TestVolumeRemountReusesLoop(t *testing.T) {
	skipWithoutDisks(t)
	e := newBwrap(t)
	ctx := context.Background()
	vol, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID(), Name: "loop", Options: map[string]any{OptionDiskMB: 16}})
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(e.volumeDir(vol.ExternalID), volumeDataDir)
	unmountAtCleanup(t, data)
	t.Cleanup(func() { _ = e.DeleteVolume(context.Background(), vol.ExternalID) })
	mount := []backend.VolumeMount{{VolumeID: vol.RecordID, ExternalID: vol.ExternalID, MountPath: "/data"}}
	a := create(t, e, backend.SandboxSpec{Volumes: mount})
	if res := sh(t, e, a.ExternalID, `echo from-a > /data/a`); res.ExitCode != 0 {
		t.Fatalf("%+v", res)
	}
	dev, err := mountSource(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := unmountAt(data); err != nil { // a's init still mounts it
		t.Fatal(err)
	}
	if got := attachedLoop(filepath.Join(e.volumeDir(vol.ExternalID), volumeImageFile)); got != dev {
		t.Fatalf("the image's loop device after the host's unmount: %q, want %q (still used by the sandbox)", got, dev)
	}
	b := create(t, e, backend.SandboxSpec{Volumes: mount})
	if res := sh(t, e, b.ExternalID, `cat /data/a; echo from-b > /data/b`); string(res.Stdout) != "from-a\n" {
		t.Errorf("the second sandbox: %q (stderr %q)", res.Stdout, res.Stderr)
	}
	if got, err := mountSource(data); err != nil || got != dev {
		t.Errorf("mounted again from %q (%v), want the same loop device %q", got, err, dev)
	}
	if res := sh(t, e, a.ExternalID, `cat /data/b`); string(res.Stdout) != "from-b\n" {
		t.Errorf("the first sandbox does not see the second's write: %q (stderr %q)", res.Stdout, res.Stderr)
	}
}
