//go:build linux

package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Engine is the local engine. It is safe for concurrent use, also by several processes sharing a root.
type Engine struct {
	root      string
	isolation string
	bwrap     string   // absolute path of bubblewrap; "" with IsolationNone
	system    []string // bubblewrap arguments mounting the read-only host system

	probeMu sync.Mutex
	probed  bool

	viewMu sync.Mutex
	etcDir string // the /etc view, made on first use

	copyOrder     []string // setup copy methods to try, best first
	cowMu         sync.Mutex
	reflinkProbed bool
	reflinkErr    error // why files under the root cannot be cloned; nil when they can

	resolve func(ctx context.Context, host, port string) (string, error) // the egress proxy's resolver

	initIdle time.Duration // how long an init outlives its last command; 0 = until the sandbox stops

	// sandboxUID and sandboxGID are the host ids of sandbox processes and files when the provider runs as root
	// (bubblewrap then runs through the launcher, launch_linux.go); -1 otherwise (the provider's own user).
	sandboxUID, sandboxGID int
	launchBase             string // where the launcher stages bubblewrap's sources
}

var (
	_ backend.Engine             = (*Engine)(nil)
	_ backend.VolumeEngine       = (*Engine)(nil)
	_ backend.SetupEngine        = (*Engine)(nil)
	_ backend.WorkspaceEngine    = (*Engine)(nil)
	_ backend.Identifier         = (*Engine)(nil)
	_ backend.VolumeValidator    = (*Engine)(nil)
	_ backend.WorkspaceValidator = (*Engine)(nil)
	_ backend.VolumeUpdater      = (*Engine)(nil)
)

// New returns a local engine. With Isolation "bwrap" (the default) it fails with an error wrapping
// ErrBwrapNotInstalled when bubblewrap cannot be found. It creates nothing on disk.
func New(cfg Config) (*Engine, error) {
	root := cfg.Root
	if root == "" {
		r, err := DefaultRoot()
		if err != nil {
			return nil, err
		}
		root = r
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("local engine root %q: %w", root, err)
	}
	order, err := copyMethods(cfg.SetupCopy)
	if err != nil {
		return nil, err
	}
	e := &Engine{root: abs, isolation: cfg.Isolation, copyOrder: order, resolve: cfg.Resolve, initIdle: cfg.InitIdle,
		sandboxUID: -1, sandboxGID: -1}
	switch {
	case e.initIdle == 0:
		e.initIdle = DefaultInitIdle
	case e.initIdle < 0:
		e.initIdle = 0
	}
	if e.resolve == nil {
		e.resolve = defaultResolve
	}
	switch cfg.Isolation {
	case "", IsolationBwrap:
		e.isolation = IsolationBwrap
		p, err := findBwrap(cfg.BwrapPath)
		if err != nil {
			return nil, err
		}
		e.bwrap = p
		e.system = systemMounts()
		if os.Geteuid() == 0 {
			if cfg.SandboxUID < 0 || cfg.SandboxUID > 1<<32-2 {
				return nil, fmt.Errorf("local engine: sandbox uid %d is not a valid uid other than root", cfg.SandboxUID)
			}
			e.sandboxUID, e.sandboxGID = DefaultSandboxUID, DefaultSandboxUID
			if cfg.SandboxUID > 0 {
				e.sandboxUID, e.sandboxGID = cfg.SandboxUID, cfg.SandboxUID
			}
			if e.launchBase, err = findLaunchBase(); err != nil {
				return nil, fmt.Errorf("local engine: %w", err)
			}
		}
	case IsolationNone:
	default:
		return nil, fmt.Errorf("local engine: unknown isolation %q (want %q or %q)", cfg.Isolation, IsolationBwrap, IsolationNone)
	}
	return e, nil
}

func findBwrap(p string) (string, error) {
	if p == "" {
		found, err := exec.LookPath("bwrap")
		if err != nil {
			return "", ErrBwrapNotInstalled
		}
		p = found
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%w (bwrap path %q: %w)", ErrBwrapNotInstalled, p, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("%w (bwrap path %q: %w)", ErrBwrapNotInstalled, p, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%w (bwrap path %q is not an executable file)", ErrBwrapNotInstalled, p)
	}
	return abs, nil
}

// Root returns the directory holding the sandboxes.
func (e *Engine) Root() string { return e.root }

// Isolation returns IsolationBwrap or IsolationNone.
func (e *Engine) Isolation() string { return e.isolation }

// Name implements backend.Engine.
func (e *Engine) Name() string { return Name }

// Identity implements backend.Identifier: setups are shared within one root and isolation mode only.
func (e *Engine) Identity() string { return e.isolation + ":" + e.root }

// Capabilities implements backend.Engine. Without isolation there are no volumes and the network is the host's.
func (e *Engine) Capabilities() backend.Capabilities {
	c := Capabilities
	if e.isolation == IsolationNone {
		c.Volumes = false
		c.NetworkPolicies = []string{backend.PolicyAllowAll}
		c.PolicyCredentials = false
	}
	return c
}

// ValidateSpec implements backend.Engine: vcpus >= 0 (informational: no CPU limit is applied), ports in
// 1..65535, env names, the local options (memory_mb, max_processes), the network policy (and that the
// isolation can enforce it), volume ids and mount paths, and the setup and workspace ids.
func (e *Engine) ValidateSpec(spec backend.SandboxSpec) error {
	return onAttribute(validateSpec(spec, e.isolation))
}

// sandboxUIDOrSelf is the host uid of sandbox processes.
func (e *Engine) sandboxUIDOrSelf() int {
	if e.sandboxUID >= 0 {
		return e.sandboxUID
	}
	return os.Geteuid()
}

// sandboxGIDOrSelf is the host gid of sandbox processes.
func (e *Engine) sandboxGIDOrSelf() int {
	if e.sandboxGID >= 0 {
		return e.sandboxGID
	}
	return os.Getegid()
}

// probe checks once that bubblewrap can make a sandbox on this machine (user namespaces may be disabled).
func (e *Engine) probe(ctx context.Context) error {
	e.probeMu.Lock()
	defer e.probeMu.Unlock()
	if e.probed {
		return nil
	}
	args := append([]string{"--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--cap-drop", "ALL"}, e.system...)
	args = append(args, "--proc", "/proc", "--dev", "/dev", "--", "true")
	cmd := exec.CommandContext(ctx, e.bwrap, args...)
	cmd.Env = []string{}
	cmd.Dir = "/"
	if e.sandboxUID >= 0 {
		// As the sandbox user, as every sandbox runs (launch_linux.go): it needs unprivileged user namespaces.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(e.sandboxUID), Gid: uint32(e.sandboxGID), Groups: []uint32{}}}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bubblewrap (%s) cannot create a sandbox on this machine (%w): %s; enable unprivileged user namespaces (sandboxes run as the unprivileged uid %d even when the provider runs as root), or set isolation = \"none\" in the provider block to run commands without isolation", e.bwrap, err, strings.TrimSpace(stderr.String()), e.sandboxUIDOrSelf())
	}
	e.probed = true
	return nil
}

// CreateSandbox implements backend.Engine. A sandbox with spec.Setup starts with a copy-on-write view of the
// setup's artifact as its home (see the package documentation); one with spec.Workspace works on the
// workspace's home instead of its own.
func (e *Engine) CreateSandbox(ctx context.Context, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.ValidateSpec(spec); err != nil {
		return nil, err
	}
	if !validName(spec.RecordID) {
		return nil, fmt.Errorf("local engine: record id %q cannot name a sandbox directory", spec.RecordID)
	}
	if e.isolation == IsolationBwrap {
		if err := e.probe(ctx); err != nil {
			return nil, err
		}
	}
	ext := externalID(spec.RecordID)
	now := time.Now().UTC()
	m := &meta{Version: 1, RecordID: spec.RecordID, ExternalID: ext, State: backend.StateStarting, CreatedAt: now, UpdatedAt: now}
	m.apply(spec)
	m.Policy = policyMode(spec.Policy, e.isolation)
	m.Setup, m.Workspace = spec.Setup, spec.Workspace
	dir, err := e.createBox(ctx, e.sandboxesDir(), ext, m, spec.Env, spec.Policy)
	if err != nil {
		return nil, err
	}
	return e.view(dir, m), nil
}

// createBox makes the directory of a sandbox or workspace: it checks and records its references (volumes,
// setup, workspace) under the shared refs lock, makes the directory with its metadata in one rename (so it is
// never seen without its record id), makes its home (from the setup, if any) and stores env and policy. A box
// that cannot be finished is removed.
func (e *Engine) createBox(ctx context.Context, parent, ext string, m *meta, env map[string]string, policy *backend.NetworkPolicy) (string, error) {
	refs, err := e.lockRefs(false)
	if err != nil {
		return "", err
	}
	defer refs.unlock()
	if err := e.resolveRefs(m); err != nil {
		return "", err
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", parent, err)
	}
	dir := filepath.Join(parent, ext)
	tmp, err := os.MkdirTemp(parent, newDirPrefix(ext))
	if err != nil {
		return "", fmt.Errorf("creating %s directory: %w", m.noun(), err)
	}
	if err := writeMeta(tmp, m); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return "", fmt.Errorf("a local %s for record %s already exists (%s): %w", m.noun(), m.RecordID, ext, backend.ErrConflict)
		}
		return "", fmt.Errorf("creating %s directory %s: %w", m.noun(), dir, err)
	}
	if err := e.finishCreate(dir, m, env, policy); err != nil {
		refs.unlock() // deleting may take the refs lock exclusively
		// Best effort: a box that could not be finished is removed; if that fails too, Find still finds it by
		// its record id.
		var derr error
		if m.Kind == kindWorkspace {
			derr = e.DeleteWorkspace(context.WithoutCancel(ctx), ext)
		} else {
			derr = e.DeleteSandbox(context.WithoutCancel(ctx), ext)
		}
		if derr != nil {
			return "", fmt.Errorf("%w (and removing the half-made %s %s failed: %w)", err, m.noun(), ext, derr)
		}
		return "", err
	}
	return dir, nil
}

// resolveRefs checks that the volumes, setup artifact and workspace m refers to exist, fills in the host paths
// of its volumes and the artifact build it starts from. The caller holds the refs lock.
func (e *Engine) resolveRefs(m *meta) error {
	for i, v := range m.Volumes {
		if v.ExternalID != "" {
			if _, err := e.readVolume(v.ExternalID); err != nil {
				return fmt.Errorf("volume %s (%s): %w", v.VolumeID, v.ExternalID, err)
			}
			m.Volumes[i].HostPath = filepath.Join(e.volumeDir(v.ExternalID), volumeDataDir)
		}
		fi, err := os.Stat(m.Volumes[i].HostPath)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.VolumeID, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("volume %s: %s is not a directory", v.VolumeID, m.Volumes[i].HostPath)
		}
	}
	if m.Setup != "" && m.SetupBuild == "" && m.SetupCopy == "" {
		build, _, err := e.readSetup(m.Setup)
		if err != nil {
			return fmt.Errorf("setup artifact %s: %w", m.Setup, err)
		}
		m.SetupBuild = build // kept from now on, until the home is made
	}
	if m.Workspace != "" {
		if _, err := readMetaFile(e.workspaceDir(m.Workspace), workspaceFile, "workspace"); err != nil {
			return fmt.Errorf("workspace %s: %w", m.Workspace, err)
		}
	}
	return nil
}

// finishCreate makes the home and run directories, stores env and policy and marks the box running (a
// sandbox) or active (a workspace).
func (e *Engine) finishCreate(dir string, m *meta, env map[string]string, policy *backend.NetworkPolicy) error {
	if err := os.Mkdir(filepath.Join(dir, runDir), 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", filepath.Join(dir, runDir), err)
	}
	if err := e.makeHome(dir, m); err != nil {
		return err
	}
	m.State = backend.StateRunning
	if m.Kind == kindWorkspace {
		m.State = backend.WorkspaceActive
	}
	return writeBox(dir, env, policy, m)
}

// writeBox writes a box's env, policy and metadata, the metadata last: it is what says the box is complete.
func writeBox(dir string, env map[string]string, policy *backend.NetworkPolicy, m *meta) error {
	if err := writeEnv(dir, env); err != nil {
		return err
	}
	if err := writePolicy(dir, policy); err != nil {
		return err
	}
	return writeMeta(dir, m)
}

// makeHome makes the home of a box: from its setup artifact, empty, or none at all for a sandbox on a
// workspace. A half-made home (an interrupted copy) is made again; an overlay home is mounted again.
func (e *Engine) makeHome(dir string, m *meta) error {
	home := filepath.Join(dir, homeDir)
	switch {
	case m.Workspace != "":
		return nil
	case m.Setup != "" && m.SetupCopy == "":
		if err := unmountHome(dir); err != nil {
			return err
		}
		for _, d := range []string{upperDir, workDir, homeDir, diskImageFile} {
			if err := removeAll(filepath.Join(dir, d)); err != nil {
				return fmt.Errorf("removing a half-made home: %w", err)
			}
		}
		if m.hasDisk() {
			// The setup's files are copied into the sandbox's own file system: an overlay's upper layer or a
			// reflink would put them, or the sandbox's writes, outside the image.
			l, _ := parseLimits(m.Options)
			if err := makeDiskHome(dir, l.diskMB, e.sandboxUIDOrSelf(), e.sandboxGIDOrSelf()); err != nil {
				return fmt.Errorf("%s %s: %w", m.noun(), m.ExternalID, err)
			}
			if err := copyInto(e.buildHome(m.SetupBuild), filepath.Join(dir, homeDir)); err != nil {
				return fmt.Errorf("%s %s from setup %s: copying the setup's files into its disk of %d MiB (disk_mb): %w", m.noun(), m.ExternalID, m.Setup, l.diskMB, err)
			}
			m.SetupCopy, m.SetupBuild = CopyPlain, ""
			return writeMeta(dir, m)
		}
		method, err := e.materialize(e.buildHome(m.SetupBuild), dir)
		if err != nil {
			return fmt.Errorf("%s %s from setup %s: %w", m.noun(), m.ExternalID, m.Setup, err)
		}
		m.SetupCopy = method
		if method != CopyOverlay {
			m.SetupBuild = "" // the home is its own: the artifact may go
		}
		return writeMeta(dir, m)
	case m.Setup != "":
		_, err := e.ensureHome(dir, m)
		return err
	}
	if m.hasDisk() {
		if _, err := os.Stat(filepath.Join(dir, diskImageFile)); err == nil {
			return mountDiskHome(dir)
		}
		l, _ := parseLimits(m.Options)
		return makeDiskHome(dir, l.diskMB, e.sandboxUIDOrSelf(), e.sandboxGIDOrSelf())
	}
	if err := os.Mkdir(home, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", home, err)
	}
	return nil
}

// completeHome makes the home of an existing box again where it is missing or half-made (an interrupted
// create) and mounts an overlay home.
func (e *Engine) completeHome(dir string, m *meta) error {
	if m.Setup != "" && m.SetupCopy == "" {
		refs, err := e.lockRefs(false)
		if err != nil {
			return err
		}
		defer refs.unlock()
		if err := e.resolveRefs(m); err != nil {
			return err
		}
	}
	return e.makeHome(dir, m)
}

// GetSandbox implements backend.Engine.
func (e *Engine) GetSandbox(ctx context.Context, externalID string) (*backend.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := e.dirOf(externalID)
	if err != nil {
		return nil, err
	}
	m, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	return e.view(dir, m), nil
}

// FindSandbox implements backend.Engine.
func (e *Engine) FindSandbox(ctx context.Context, recordID string) (*backend.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validName(recordID) {
		return nil, fmt.Errorf("no local sandbox for record %q: %w", recordID, backend.ErrNotFound)
	}
	dir := e.dir(externalID(recordID))
	m, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	if m.RecordID != recordID {
		return nil, fmt.Errorf("no local sandbox for record %q: %w", recordID, backend.ErrNotFound)
	}
	return e.view(dir, m), nil
}

// ListSandboxes implements backend.Engine. A sandbox whose metadata cannot be read is listed with state
// unknown, so that sweep still sees it. Leftovers of interrupted creates and deletes are removed on the way.
func (e *Engine) ListSandboxes(ctx context.Context) ([]*backend.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := listBoxes(e.sandboxesDir(), "sandboxes", removeBox, func(name string) bool {
		return strings.HasPrefix(name, externalPrefix) && validName(name)
	})
	if err != nil {
		return nil, err
	}
	var out []*backend.Sandbox
	for _, name := range names {
		dir := e.dir(name)
		m, err := readMeta(dir)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			continue // deleted meanwhile
		case err != nil:
			out = append(out, &backend.Sandbox{ExternalID: name, RecordID: strings.TrimPrefix(name, externalPrefix), State: backend.StateUnknown, Metadata: e.metadata(dir, nil)})
		default:
			out = append(out, e.view(dir, m))
		}
	}
	return out, nil
}

// UpdateSandbox implements backend.Engine: runtime, timeout, vcpus, ports, purpose, options, volumes, network
// policy and env change in place and apply to the next command. Setup and workspace are kept as they were made.
func (e *Engine) UpdateSandbox(ctx context.Context, externalID string, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.ValidateSpec(spec); err != nil {
		return nil, err
	}
	dir, err := e.dirOf(externalID)
	if err != nil {
		return nil, err
	}
	lk, err := lockSandbox(dir)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	m, err := readMeta(dir)
	if err != nil {
		return nil, err
	}
	if spec.RecordID != "" && spec.RecordID != m.RecordID {
		return nil, fmt.Errorf("local sandbox %s belongs to record %s, not %s", externalID, m.RecordID, spec.RecordID)
	}
	m.apply(spec)
	m.Policy = policyMode(spec.Policy, e.isolation)
	m.UpdatedAt = time.Now().UTC()
	refs, err := e.lockRefs(false)
	if err != nil {
		return nil, err
	}
	defer refs.unlock()
	if err := e.resolveRefs(m); err != nil {
		return nil, err
	}
	if err := writeBox(dir, spec.Env, spec.Policy, m); err != nil {
		return nil, err
	}
	return e.view(dir, m), nil
}

// StartSandbox implements backend.Engine. It mounts an overlay home again, and completes a half-made sandbox
// (missing home or run directory, an interrupted copy of its setup); the env of such a sandbox is empty until
// UpdateSandbox sets it.
func (e *Engine) StartSandbox(ctx context.Context, externalID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, err := e.dirOf(externalID)
	if err != nil {
		return err
	}
	lk, err := lockSandbox(dir)
	if err != nil {
		return err
	}
	defer lk.unlock()
	m, err := readMeta(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, runDir), 0o700); err != nil {
		return fmt.Errorf("starting sandbox %s: %w", externalID, err)
	}
	if err := e.completeHome(dir, m); err != nil {
		return fmt.Errorf("starting sandbox %s: %w", externalID, err)
	}
	if m.State != backend.StateRunning {
		m.State = backend.StateRunning
		m.UpdatedAt = time.Now().UTC()
		if err := writeMeta(dir, m); err != nil {
			return err
		}
	}
	lk.unlock()
	return nil
}

// StopSandbox implements backend.Engine: the sandbox is marked stopped (Exec then refuses to run), every
// running command is killed, and it returns once they are gone. Files stay.
func (e *Engine) StopSandbox(ctx context.Context, externalID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, err := e.dirOf(externalID)
	if err != nil {
		return err
	}
	lk, err := lockSandbox(dir)
	if err != nil {
		return err
	}
	m, err := readMeta(dir)
	if err != nil {
		lk.unlock()
		return err
	}
	if m.State != backend.StateStopped {
		m.State = backend.StateStopped
		m.UpdatedAt = time.Now().UTC()
		if err := writeMeta(dir, m); err != nil {
			lk.unlock()
			return err
		}
	}
	procs := killRunning(dir)
	if err := waitGone(ctx, procs); err != nil {
		lk.unlock()
		return err
	}
	defer lk.unlock()
	if e.isolation == IsolationBwrap {
		if err := removeCgroup(dir); err != nil {
			return fmt.Errorf("stopping sandbox %s: %w", externalID, err)
		}
	}
	if m.SetupCopy == CopyOverlay || m.hasDisk() {
		// Files stay in the upper directory or the disk image; the next start, command or file access mounts the
		// home again.
		if err := unmountHome(dir); err != nil {
			return fmt.Errorf("stopping sandbox %s: %w", externalID, err)
		}
	}
	return nil
}

// DeleteSandbox implements backend.Engine: it kills every running command and removes the directory. A
// missing sandbox is not an error.
func (e *Engine) DeleteSandbox(ctx context.Context, externalID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, err := e.dirOf(externalID)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	lk, err := lockSandbox(dir)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	m, err := deleteBox(ctx, dir, e.sandboxesDir(), externalID, "sandbox", metaFile, lk)
	if err != nil {
		return fmt.Errorf("deleting sandbox %s: %w", externalID, err)
	}
	if m != nil && m.SetupBuild != "" {
		// The setup artifact it started from goes too if DeleteSetup removed it meanwhile.
		return e.collectBuilds()
	}
	return nil
}

// deleteBox kills the running commands of a sandbox or workspace locked by lk, unmounts its home, removes its
// directory and unlocks lk. It returns the box's metadata (nil for a half-made box without any).
func deleteBox(ctx context.Context, dir, parent, ext, noun, file string, lk *sandboxLock) (*meta, error) {
	defer lk.unlock()
	if err := waitGone(ctx, killRunning(dir)); err != nil {
		return nil, err
	}
	if err := removeCgroup(dir); err != nil {
		return nil, err
	}
	m, _ := readMetaFile(dir, file, noun)
	if err := unmountHome(dir); err != nil {
		return nil, err
	}
	// Rename first so that the box disappears at once; the removal of its files may then take its time.
	trash := filepath.Join(parent, ".del-"+ext+"-"+nonce())
	if err := os.Rename(dir, trash); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	if err := removeAll(trash); err != nil {
		return nil, fmt.Errorf("removing %s: %w", trash, err)
	}
	return m, nil
}

// listBoxes returns the names of the directories under parent that valid accepts, and removes on the way the
// leftovers of interrupted deletes (.del-) and of creates whose maker is gone (see abandonedNew) with remove.
// A missing parent lists nothing.
func listBoxes(parent, what string, remove func(string) error, valid func(string) bool) ([]string, error) {
	entries, err := os.ReadDir(parent)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing local %s: %w", what, err)
	}
	var names []string
	for _, ent := range entries {
		name := ent.Name()
		if strings.HasPrefix(name, ".del-") || abandonedNew(ent) {
			// Left by a delete or a create that was killed midway (a create renames its .new- directory
			// into place within milliseconds).
			_ = remove(filepath.Join(parent, name))
			continue
		}
		if ent.IsDir() && valid(name) {
			names = append(names, name)
		}
	}
	return names, nil
}

// newDirPrefix is the os.MkdirTemp pattern of a directory being made for ext: ".new-<ext>-<pid>-", so that a
// listing can tell one whose maker was killed (its pid no longer runs) from one still being made.
func newDirPrefix(ext string) string {
	if ext == "" {
		return ".new-" + strconv.Itoa(os.Getpid()) + "-"
	}
	return ".new-" + ext + "-" + strconv.Itoa(os.Getpid()) + "-"
}

// abandonedNew reports whether ent is a .new- directory left by a create that was killed: its maker's pid (see
// newDirPrefix) no longer runs on this machine, or (a name without a pid, or a pid taken again) it is older than
// an hour.
func abandonedNew(ent os.DirEntry) bool {
	name := ent.Name()
	if !strings.HasPrefix(name, ".new-") {
		return false
	}
	if f := strings.Split(name, "-"); len(f) >= 3 {
		if pid, err := strconv.Atoi(f[len(f)-2]); err == nil && pid > 0 && !backend.ProcessAlive(pid) {
			return true
		}
	}
	return olderThan(ent, time.Hour)
}

func olderThan(ent os.DirEntry, d time.Duration) bool {
	fi, err := ent.Info()
	return err == nil && time.Since(fi.ModTime()) > d
}

func (e *Engine) sandboxesDir() string { return filepath.Join(e.root, "sandboxes") }

func (e *Engine) dir(externalID string) string { return filepath.Join(e.sandboxesDir(), externalID) }

// dirOf returns the directory of an external id; an id that cannot be a local sandbox is not found.
func (e *Engine) dirOf(externalID string) (string, error) {
	if !strings.HasPrefix(externalID, externalPrefix) || !validName(externalID) {
		return "", fmt.Errorf("no local sandbox %q: %w", externalID, backend.ErrNotFound)
	}
	return e.dir(externalID), nil
}

// view turns metadata into the engine's view of a sandbox.
func (e *Engine) view(dir string, m *meta) *backend.Sandbox {
	sb := &backend.Sandbox{
		ExternalID: m.ExternalID,
		RecordID:   m.RecordID,
		State:      m.State,
		URLs:       map[int]string{},
		Metadata:   e.metadata(dir, m),
		CreatedAt:  m.CreatedAt,
	}
	if sb.State == "" {
		sb.State = backend.StateUnknown
	}
	// Loopback URLs are informational: under bubblewrap a sandbox has its own network namespace (but with
	// allow_all), so a port it listens on is not reachable from the host.
	for i, p := range m.Ports {
		u := fmt.Sprintf("http://127.0.0.1:%d", p)
		sb.URLs[p] = u
		if i == 0 {
			sb.URL = u
		}
	}
	return sb
}

// metadata is what the record keeps under params.local (m may be nil). Never env values or credentials.
func (e *Engine) metadata(dir string, m *meta) map[string]any {
	md := map[string]any{
		"isolation": e.isolation,
		"home":      filepath.Join(dir, homeDir),
		"dir":       dir,
	}
	mode := policyMode(nil, e.isolation)
	if m != nil {
		if m.Policy != "" {
			mode = m.Policy
		}
		if m.Setup != "" {
			md["setup"] = m.Setup
		}
		if m.SetupCopy != "" {
			md["setup_copy"] = m.SetupCopy
		}
		if m.Workspace != "" {
			md["workspace"] = m.Workspace
			md["home"] = filepath.Join(e.workspaceDir(m.Workspace), homeDir)
		}
	}
	md["policy"] = mode
	switch mode {
	case backend.PolicyAllowAll:
		md["network"] = "host"
	case backend.PolicyAllowList:
		md["network"] = "proxy"
	default:
		md["network"] = "none"
	}
	return md
}

// CheckMountPath refuses, without touching the disk, a volume mount path that no local sandbox can have: not
// clean and absolute, /, the sandbox home itself, the read-only system and kernel file systems, the egress
// forwarder's place. The provider calls it at plan time, on the volume's mount_path.
func (e *Engine) CheckMountPath(mountPath string) error {
	return checkMountPath(mountPath)
}
