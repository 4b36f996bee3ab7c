//go:build linux

package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sandbox processes never run as host root. When the provider runs as root, bubblewrap is started as the sandbox
// user (Config.SandboxUID, DefaultSandboxUID unless set) instead: unprivileged, it makes the sandbox's user
// namespace itself and maps the sandbox's uid 0 to that host uid, so every process of a sandbox (its init, its
// spawner, its commands) is that uid on the host and every file a sandbox writes is that uid's.
//
// bubblewrap resolves the sources of its bind mounts by path, as the user it runs as, and the engine's files
// (under a root that is often in /root, 0700) and the provider executable are not reachable by the sandbox
// user. So root starts bubblewrap through a launcher, this executable started with launchEnv: it makes a mount
// namespace of its own (the host's mounts are not touched), mounts a tmpfs on a directory of the host's top
// level (launchBase), bind-mounts each source there (the home, the /etc view, the volumes, the executable),
// drops to the sandbox user (no supplementary groups) and executes bubblewrap, whose arguments name the staged
// paths. Nothing of the host beyond those sources becomes reachable to the sandbox user.
//
// The sandbox user is one dedicated uid for all sandboxes: setups are shared by the sandboxes made from them
// (an overlay's lower layer is read, and copied up, with the owner it has) and volumes by the sandboxes that
// mount them, which a uid per sandbox would make unwritable without idmapped mounts. Sandboxes are apart from
// each other by their namespaces (mount, pid, ipc, network): a process of one can neither see nor signal the
// processes of another, and sees no file of another.
const (
	launchEnv = "TERRAFORM_PROVIDER_SANDBOX_LAUNCH"
	// stageDir is the directory, on the launcher's tmpfs, that holds the staged sources: stageDir/<n>.
	stageDir = ".sandbox-sources"
)

// DefaultSandboxUID is the host uid (and gid) of every sandbox process when the provider runs as root: the first
// uid above the ranges that systemd hands out to containers (524288..1879048191), which no distribution assigns
// to a user.
const DefaultSandboxUID = 1879048192

// launchSpec is what the launcher is told, as JSON in launchEnv. It holds paths and ids only, never a secret.
type launchSpec struct {
	Bwrap string   `json:"bwrap"`
	UID   int      `json:"uid"`
	GID   int      `json:"gid"`
	Base  string   `json:"base"`
	Srcs  []string `json:"srcs"`
}

// stager collects the sources of bubblewrap's bind mounts when bubblewrap runs through the launcher; nil when it
// runs directly (the provider is not root), and then src returns the path itself.
type stager struct {
	base string
	srcs []string
}

// src returns the path that bubblewrap binds for the host path p.
func (s *stager) src(p string) string {
	if s == nil {
		return p
	}
	s.srcs = append(s.srcs, p)
	return filepath.Join(s.base, stageDir, strconv.Itoa(len(s.srcs)-1))
}

// sources returns the staged sources (nil without a stager).
func (s *stager) sources() []string {
	if s == nil {
		return nil
	}
	return s.srcs
}

// stager returns a stager when bubblewrap runs through the launcher.
func (e *Engine) stager() *stager {
	if e.sandboxUID < 0 {
		return nil
	}
	return &stager{base: e.launchBase}
}

// userArgs are bubblewrap's options that make the sandbox's uid 0 the sandbox user when it runs through the
// launcher (as the provider's uid 0 maps to root otherwise).
func (e *Engine) userArgs() []string {
	if e.sandboxUID < 0 {
		return nil
	}
	return []string{"--uid", "0", "--gid", "0"}
}

// bwrapCommand returns the program and environment that start bubblewrap with the staged sources of st:
// bubblewrap itself with an empty environment, or the launcher.
func (e *Engine) bwrapCommand(st *stager) (string, []string, error) {
	if st == nil {
		return e.bwrap, []string{}, nil
	}
	exe, err := executable()
	if err != nil {
		return "", nil, err
	}
	b, err := json.Marshal(launchSpec{Bwrap: e.bwrap, UID: e.sandboxUID, GID: e.sandboxGID, Base: st.base, Srcs: st.srcs})
	if err != nil {
		return "", nil, err
	}
	return exe, []string{launchEnv + "=" + string(b)}, nil
}

// findLaunchBase returns a top-level directory of the host on which the launcher can mount its tmpfs (in its
// own mount namespace only).
func findLaunchBase() (string, error) {
	for _, d := range []string{"/run", "/mnt", "/media", "/srv", "/opt"} {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			return d, nil
		}
	}
	return "", errors.New("no directory among /run, /mnt, /media, /srv and /opt to stage a sandbox's mounts on")
}

// runLauncher is the launcher (see above); it returns only when it fails. argv is bubblewrap's.
func runLauncher(specJSON string, argv []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "sandbox launcher: "+format+"\n", a...)
		return 1
	}
	var sp launchSpec
	if err := json.Unmarshal([]byte(specJSON), &sp); err != nil {
		return fail("bad %s: %v", launchEnv, err)
	}
	if sp.UID <= 0 || sp.GID <= 0 || !filepath.IsAbs(sp.Bwrap) || !filepath.IsAbs(sp.Base) {
		return fail("bad %s: %s", launchEnv, specJSON)
	}
	// The mount namespace, the credentials and the exec all belong to this thread.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fail("making a mount namespace: %v", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fail("making the mounts private: %v", err)
	}
	if err := unix.Mount("tmpfs", sp.Base, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return fail("mounting a tmpfs on %s: %v", sp.Base, err)
	}
	dir := filepath.Join(sp.Base, stageDir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fail("%v", err)
	}
	for i, src := range sp.Srcs {
		fi, err := os.Stat(src)
		if err != nil {
			return fail("%v", err)
		}
		dst := filepath.Join(dir, strconv.Itoa(i))
		if fi.IsDir() {
			err = os.Mkdir(dst, 0o755)
		} else {
			err = os.WriteFile(dst, nil, 0o444)
		}
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fail("%v", err)
		}
		if err := unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fail("staging %s: %v", src, err)
		}
	}
	// The sandbox's process limit is its pids cgroup and the RLIMIT_NPROC that the engine gives its init; the
	// sandbox user's count on the host is not limited by root's own RLIMIT_NPROC.
	_ = unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fail("disabling core dumps: %v", err)
	}
	// Only this thread changes credentials: it executes bubblewrap at once.
	if _, _, errno := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); errno != 0 {
		return fail("dropping supplementary groups: %v", errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(sp.GID), uintptr(sp.GID), uintptr(sp.GID)); errno != 0 {
		return fail("switching to gid %d: %v", sp.GID, errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(sp.UID), uintptr(sp.UID), uintptr(sp.UID)); errno != 0 {
		return fail("switching to uid %d: %v", sp.UID, errno)
	}
	err := syscall.Exec(sp.Bwrap, argv, []string{})
	return fail("executing %s: %v", sp.Bwrap, err)
}
