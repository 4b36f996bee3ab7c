// Package local implements the local engine: sandboxes on this machine. Each sandbox is a directory holding a
// private home, and its commands run under bubblewrap (bwrap) with a read-only view of the host system, their
// own pid, ipc, uts, net, user and cgroup namespaces (so no network but their own loopback), a tmpfs /tmp, a
// cleared environment, resource limits, and a timeout after which the whole process tree is killed.
//
// On-disk layout under Config.Root:
//
//	sandboxes/<external id>/       0700; the external id is "local-" + the record id
//	    sandbox.json               metadata: record id, state, runtime, timeout, ports, options, volumes
//	    env.json                   0600: the sandbox's env. It may hold secrets: it is the one place the local
//	                               engine keeps them, on local disk, outside the home (invisible to bubblewrapped
//	                               commands), never in sandbox.json, Metadata or logs
//	    lock                       flock: shared while a command starts, exclusive to stop, start, update, delete
//	    run/<pid>-<nonce>.json     one file per running command: the processes to kill on stop or delete
//	    home/                      the sandbox's private home, mounted at /home/sandbox inside the sandbox
//	system/etc-<hash>/             the allow-listed part of the host's /etc, copied, mounted read-only as /etc
//
// A command runs as the provider's user, which is also the owner of the files in its home. When the provider
// runs as root, bubblewrap maps the sandbox's uid 0 to root without any capability: the sandbox sees no more
// than what is mounted (read-only system, its home, /tmp, volumes) and /proc/sys is read-only, but the kernel
// does not apply RLIMIT_NPROC (max_processes) to root.
//
// The directory with its metadata is made under a temporary name and renamed into place, so every visible
// sandbox directory names its record id: FindSandbox finds a half-made sandbox too.
//
// With Isolation "none" commands run directly on the host, as the provider's user, with HOME set to the sandbox
// home and a cleared environment, and nothing else: no filesystem, process or network isolation, no resource
// limits and no volumes. Sandbox.Metadata["isolation"] says which mode a sandbox runs in.
package local

import (
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

// DefaultMaxProcesses is the RLIMIT_NPROC of bubblewrapped commands when the max_processes option is unset.
// Under bubblewrap the count is per command: the processes and threads of its own user namespace.
const DefaultMaxProcesses = 4096

// MaxOutputBytes caps what Exec keeps of each of stdout and stderr; the rest is read and discarded.
const MaxOutputBytes = 32 << 20

// Options of the local block (SandboxSpec.Options).
const (
	// OptionMemoryMB limits each process's address space (RLIMIT_AS) in MiB; unset or 0 = no limit.
	OptionMemoryMB = "memory_mb"
	// OptionMaxProcesses limits the processes and threads of a command (RLIMIT_NPROC, counted in the command's
	// own user namespace); unset or 0 = DefaultMaxProcesses. The kernel does not enforce it when the provider
	// runs as root.
	OptionMaxProcesses = "max_processes"
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
}

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
