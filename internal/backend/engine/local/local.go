// Package local implements the local engine: sandboxes on this machine. Each sandbox is a directory holding a
// private home, and its commands run under bubblewrap (bwrap) with a read-only view of the host system, the
// sandbox's own pid, ipc, uts, net, user and cgroup namespaces (so no network but its own loopback), a tmpfs
// /tmp, a cleared environment, resource limits, and a timeout after which the whole process tree is killed.
//
// A running sandbox keeps one bubblewrap (its init) with those namespaces, started by CreateSandbox,
// StartSandbox or the first command, detached so that it outlives the provider process, and killed by
// StopSandbox and DeleteSandbox; its spawner, a copy of this executable inside, forks every command in a session
// of its own (initproc_linux.go, spawner_linux.go). The commands of a sandbox therefore share its /tmp and see
// each other's processes, as in a container; each one's process group is killed when it ends, and whatever a
// command left running outside its group is killed once no command runs. Exec starts the init again when it is
// gone (a reboot, a kill) and replaces it when what it is made of changed (volumes, network policy,
// max_processes, the provider executable).
//
// On-disk layout under Config.Root:
//
//	sandboxes/<external id>/       0700; the external id is "local-" + the record id
//	    sandbox.json               metadata: record id, state, runtime, timeout, ports, options, volumes, setup
//	    env.json                   0600: the sandbox's env. It may hold secrets: it is the one place the local
//	                               engine keeps them, on local disk, outside the home (invisible to bubblewrapped
//	                               commands), never in sandbox.json, Metadata or logs
//	    policy.json                0600: the network policy with its credentials (secrets, like env.json); absent
//	                               means deny_all
//	    lock                       flock: shared while a command starts, exclusive to stop, start, update, delete
//	    run/<pid>-<nonce>.json     one file per running command: the processes to kill on stop or delete
//	    run/init.json, init.sock   the sandbox's init (killed on stop and delete like a command) and the socket
//	                               its spawner listens on (not visible inside the sandbox)
//	    home/                      the sandbox's private home, mounted at /home/sandbox inside the sandbox; with
//	                               a setup started by overlayfs, the overlay mount point of:
//	    upper/, work/              the overlay's upper (the sandbox's own changes) and work directories
//	workspaces/ws-<record id>/     a workspace: the same files as a sandbox (workspace.json for sandbox.json);
//	                               its home (or overlay upper) holds the workspace's durable files
//	volumes/vol-<record id>/       a volume: volume.json and data/, bind-mounted where sandboxes mount it
//	setups/setup-<16 hex>          a symlink naming the artifact of a setup fingerprint: builds/<id>-<nonce>
//	setups/builds/<id>-<nonce>/    an artifact: setup.json and home/, the builder's home after the setup command
//	                               ran. Never written again: sandboxes start from it by copy-on-write. It stays
//	                               while a sandbox or workspace uses it as its overlay lower layer, even after
//	                               DeleteSetup removed its name
//	refs.lock                      flock: shared while a sandbox or workspace takes a volume, setup or workspace
//	                               reference, exclusive while one of those is removed
//	system/etc-<hash>/             the allow-listed part of the host's /etc, copied, mounted read-only as /etc
//
// A command runs as the provider's user, which is also the owner of the files in its home; when the provider
// runs as root, as the sandbox user (Config.SandboxUID, DefaultSandboxUID unless set), never host root:
// bubblewrap is started as that uid through a launcher (launch_linux.go) and maps the sandbox's uid 0 to it, and
// the files a sandbox writes are that uid's (own_linux.go). Commands have no capability: the sandbox sees no more
// than what is mounted (read-only system, its home, /tmp, volumes; all nosuid) and /proc/sys is read-only.
//
// # Limits
//
// The limits hold for the whole sandbox, every process of it together (cgroup_linux.go): max_processes by its
// pids cgroup, memory_mb by its memory cgroup (cgroup v2, or the v1 pids and memory hierarchies), tmp_mb by the
// size of its /tmp tmpfs. Without cgroups an unprivileged provider still gets max_processes as RLIMIT_NPROC,
// which counts in the sandbox's own user namespace; a limit that cannot be enforced is refused by ValidateSpec
// with an OptionError naming it. The sandbox's pid 1 is the spawner itself (bubblewrap --as-pid-1), not
// dumpable, so that commands can neither trace it nor reach its descriptors.
//
// The directory with its metadata is made under a temporary name and renamed into place, so every visible
// sandbox directory names its record id: FindSandbox finds a half-made sandbox too.
//
// # Setups and copy-on-write
//
// BuildSetup runs the setup command once in a builder sandbox (with the setup's env, policy and timeout) and
// keeps the builder's home as the artifact. A sandbox or workspace that starts from it gets its home by the
// first method that works here, recorded in Metadata["setup_copy"]:
//
//   - "overlayfs": an overlay mount on the host with the artifact as the read-only lower layer and the
//     sandbox's own upper directory: creating it copies nothing. It needs the right to mount (the provider runs
//     as root). The mount is made at creation, made again when needed (after a reboot, after stop), and
//     removed on stop and delete.
//   - "reflink": a copy whose files share their blocks with the artifact (FICLONE: btrfs, XFS, bcachefs).
//   - "copy": a plain copy (ownership as root, modes, times, symlinks, hard links and FIFOs are kept).
//
// # Network policy
//
// deny_all (the default) gives commands their own network namespace with only a loopback interface.
// allow_all shares the host's network namespace. allow_list keeps the empty network namespace: the only way
// out is an HTTP proxy that the engine runs on the host for the time of each command. It filters by host
// name (CONNECT for TLS, absolute-form requests for plain HTTP), answers 403 to any other host, dials the
// allowed ones itself (never a loopback, link-local or multicast address unless Config.Resolve says so), and
// adds the headers of the policy's preset credentials to plain-HTTP requests. It cannot see inside TLS, so
// over https:// no header is injected: credentials reach only http:// targets.
//
// The sandbox reaches the proxy through a unix socket pair inherited by its first process, a small forwarder
// that is the running executable itself (the provider binary, or a test binary) bind-mounted read-only into
// the sandbox and started with an environment variable that makes this package's init hand control to it. The
// forwarder listens on 127.0.0.1 in the sandbox's own network namespace, sets HTTP_PROXY, HTTPS_PROXY,
// http_proxy and https_proxy to it, and runs the command. For every connection it asks the host, over the
// socket pair, for a new connection to the proxy, which the host makes (a socket pair per connection) and
// passes back. Nothing else leads out: the sandbox has no interface but its loopback, no file system path to
// a host socket, and no credential (they stay in the host process and in policy.json, outside the sandbox).
//
// With Isolation "none" commands run directly on the host, as the provider's user, with HOME set to the sandbox
// home and a cleared environment, and nothing else: no filesystem, process or network isolation, no resource
// limits, no volumes and no network policy but allow_all. Sandbox.Metadata["isolation"] says which mode a
// sandbox runs in.
package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Isolation modes.
const (
	IsolationBwrap = "bwrap" // bubblewrap namespaces (default)
	IsolationNone  = "none"  // no isolation at all
)

// SandboxHome is the sandbox's home directory as commands see it under bubblewrap.
const SandboxHome = "/home/sandbox"

// DefaultTimeout is the command timeout when neither the request nor the sandbox sets one.
const DefaultTimeout = 5 * time.Minute

// DefaultMaxProcesses is the process limit of a sandbox when the max_processes option is unset: enough for
// builds and test runs, few enough that a fork bomb cannot exhaust the host's pids or scheduler.
const DefaultMaxProcesses = 1024

// DefaultTmpMB is the size of a sandbox's /tmp (a tmpfs, in memory) when the tmp_mb option is unset.
const DefaultTmpMB = 1024

// MinDiskMB is the smallest disk_mb: ext4 keeps a few MiB for itself.
const MinDiskMB = 16

// MinMemoryMB is the smallest memory_mb: a sandbox's init and spawner take a few MiB of it.
const MinMemoryMB = 16

// DefaultMemoryFraction: a sandbox without memory_mb may use at most this fraction of the host's RAM (with cgroup
// accounting), so that one runaway sandbox leaves the host room to work.
const DefaultMemoryFraction = 2

// MaxOutputBytes caps what Exec keeps of each of stdout and stderr; the rest is read and discarded.
const MaxOutputBytes = 32 << 20

// Options of the local block (SandboxSpec.Options).
const (
	// OptionMemoryMB limits the memory of the whole sandbox (all its processes together, its /tmp included,
	// swap counted with it where the host accounts swap) in MiB, through its memory cgroup; unset or 0 = half of
	// the host's RAM. The engine refuses it where it cannot give a sandbox a memory cgroup.
	OptionMemoryMB = "memory_mb"
	// OptionMaxProcesses limits the processes and threads of all the sandbox's commands together (its pids
	// cgroup; without cgroups, RLIMIT_NPROC in the sandbox's own user namespace, which an unprivileged provider
	// gets); unset or 0 = DefaultMaxProcesses. Refused as root without cgroups (the kernel exempts root from
	// RLIMIT_NPROC).
	OptionMaxProcesses = "max_processes"
	// OptionTmpMB is the size of the sandbox's /tmp in MiB (a tmpfs: writing past it fails with ENOSPC inside
	// the sandbox); unset or 0 = DefaultTmpMB. Its files count against memory_mb too.
	OptionTmpMB = "tmp_mb"
	// OptionDiskMB gives the home of a sandbox or a workspace, or the data of a volume (its only option), a file
	// system of its own of that size in MiB (an ext4 image on a loop device, sparse: it takes on the host's disk
	// only what is written): writing past it fails with ENOSPC inside the sandbox. Unset or 0 = none (the files
	// share the root's file system). It needs root (mounting), mkfs.ext4 and loop devices, is refused for a
	// sandbox on a workspace (the workspace's own disk_mb sizes its files), and cannot change in place.
	OptionDiskMB = "disk_mb"
)

// ErrBwrapNotInstalled is returned by New when Isolation is "bwrap" and bubblewrap cannot be found.
var ErrBwrapNotInstalled = errors.New(`bubblewrap (bwrap) is not installed: install it with "apt-get install bubblewrap" (Debian/Ubuntu) or "dnf install bubblewrap", or set isolation = "none" in the provider block to run commands without isolation`)

// Config configures the local engine.
type Config struct {
	// Root is the directory holding the sandboxes; "" = DefaultRoot().
	Root string
	// Isolation is IsolationBwrap (default when "") or IsolationNone.
	Isolation string
	// BwrapPath is the bubblewrap binary; "" = "bwrap" looked up in PATH.
	BwrapPath string
	// SetupCopy is the first copy-on-write method to try when a sandbox or workspace starts from a setup:
	// CopyOverlay (default when ""), CopyReflink or CopyPlain. The engine falls back to the next ones (overlayfs,
	// then reflink, then a plain copy) where a method does not work on this machine.
	SetupCopy string
	// Resolve gives the address ("ip:port") that the egress proxy of allow_list sandboxes dials for an allowed
	// host and port. nil = the system resolver, refusing loopback, link-local, unspecified and multicast
	// addresses, so that a sandbox never reaches a service that listens on the host's loopback. Tests map host
	// names to local test servers with it.
	Resolve func(ctx context.Context, host, port string) (string, error)
	// InitIdle is how long a sandbox's init (its bubblewrap and spawner, started by its first command) lives
	// after its last command ends; the next command starts a new one. 0 = DefaultInitIdle; negative = until the
	// sandbox stops.
	InitIdle time.Duration
	// SandboxUID is the host uid (and gid) that sandbox processes run as, and that owns the files they write,
	// when the provider runs as root; 0 = DefaultSandboxUID. A provider that is not root runs sandboxes as its
	// own user.
	SandboxUID int
}

// DefaultInitIdle is how long an idle sandbox keeps its init: long enough for the commands of one apply and
// the next, short enough that hundreds of sandboxes that ran a command once do not keep processes for good.
const DefaultInitIdle = 10 * time.Minute

// Setup copy methods, as Sandbox.Metadata["setup_copy"] and Workspace.Metadata["setup_copy"] name them.
const (
	CopyOverlay = "overlayfs" // an overlay mount over the read-only artifact: nothing copied
	CopyReflink = "reflink"   // a copy sharing the artifact's blocks (FICLONE)
	CopyPlain   = "copy"      // a plain copy
)

// DefaultSetupTimeout is the timeout of a setup command when SetupSpec.Timeout is 0.
const DefaultSetupTimeout = 30 * time.Minute

// DefaultRoot returns $XDG_DATA_HOME/terraform-provider-sandbox/local, or
// ~/.local/share/terraform-provider-sandbox/local when XDG_DATA_HOME is unset or not absolute.
func DefaultRoot() (string, error) {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "terraform-provider-sandbox", "local"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the default root of the local engine: %w", err)
	}
	return filepath.Join(home, ".local", "share", "terraform-provider-sandbox", "local"), nil
}
