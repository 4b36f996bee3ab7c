//go:build linux

package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
}

var _ backend.Engine = (*Engine)(nil)

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
	e := &Engine{root: abs, isolation: cfg.Isolation}
	switch cfg.Isolation {
	case "", IsolationBwrap:
		e.isolation = IsolationBwrap
		p, err := findBwrap(cfg.BwrapPath)
		if err != nil {
			return nil, err
		}
		e.bwrap = p
		e.system = systemMounts()
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
func (e *Engine) Name() string { return backend.EngineLocal }

// Capabilities implements backend.Engine. Without isolation there are no volumes and the network is the host's.
func (e *Engine) Capabilities() backend.Capabilities {
	c := backend.Capabilities{
		StopStart:       true,
		Exec:            true,
		Files:           true,
		Volumes:         true,
		Setups:          true,
		Workspaces:      true,
		PublicURLs:      false,
		NetworkPolicies: []string{"deny_all"},
	}
	if e.isolation == IsolationNone {
		c.Volumes = false
		c.NetworkPolicies = []string{"allow_all"}
	}
	return c
}

// ValidateSpec implements backend.Engine: vcpus >= 0 (informational: no CPU limit is applied), ports in
// 1..65535, env names, the local options (memory_mb, max_processes) and volume mount paths.
func (e *Engine) ValidateSpec(spec backend.SandboxSpec) error {
	return validateSpec(spec, e.isolation)
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
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("bubblewrap (%s) cannot create a sandbox on this machine (%w): %s; enable unprivileged user namespaces, or set isolation = \"none\" in the provider block to run commands without isolation", e.bwrap, err, strings.TrimSpace(stderr.String()))
	}
	e.probed = true
	return nil
}

// CreateSandbox implements backend.Engine.
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
	if err := checkVolumeDirs(spec.Volumes); err != nil {
		return nil, err
	}
	parent := e.sandboxesDir()
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", parent, err)
	}
	ext := externalID(spec.RecordID)
	dir := e.dir(ext)
	now := time.Now().UTC()
	m := &meta{Version: 1, RecordID: spec.RecordID, ExternalID: ext, State: backend.StateStarting, CreatedAt: now, UpdatedAt: now}
	m.apply(spec)

	// The directory appears with its metadata in one rename, so it is never seen without its record id.
	tmp, err := os.MkdirTemp(parent, ".new-"+ext+"-")
	if err != nil {
		return nil, fmt.Errorf("creating sandbox directory: %w", err)
	}
	if err := writeMeta(tmp, m); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return nil, fmt.Errorf("a local sandbox for record %s already exists (%s): %w", spec.RecordID, ext, backend.ErrConflict)
		}
		return nil, fmt.Errorf("creating sandbox directory %s: %w", dir, err)
	}
	if err := e.finishCreate(dir, m, spec.Env); err != nil {
		// Best effort: a sandbox that could not be finished is removed; if that fails too, FindSandbox still
		// finds it by its record id.
		if derr := e.DeleteSandbox(context.WithoutCancel(ctx), ext); derr != nil {
			return nil, fmt.Errorf("%w (and removing the half-made sandbox %s failed: %w)", err, ext, derr)
		}
		return nil, err
	}
	return e.view(dir, m), nil
}

func (e *Engine) finishCreate(dir string, m *meta, env map[string]string) error {
	for _, d := range []string{filepath.Join(dir, "home"), filepath.Join(dir, "run")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := writeEnv(dir, env); err != nil {
		return err
	}
	m.State = backend.StateRunning
	return writeMeta(dir, m)
}

func checkVolumeDirs(vols []backend.VolumeMount) error {
	for _, v := range vols {
		fi, err := os.Stat(v.ExternalID)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.VolumeID, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("volume %s: %s is not a directory", v.VolumeID, v.ExternalID)
		}
	}
	return nil
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
	entries, err := os.ReadDir(e.sandboxesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing local sandboxes: %w", err)
	}
	var out []*backend.Sandbox
	for _, ent := range entries {
		name := ent.Name()
		if strings.HasPrefix(name, ".del-") || strings.HasPrefix(name, ".new-") && olderThan(ent, time.Hour) {
			// Left by a delete or a create that was killed midway (a create renames its .new- directory
			// into place within milliseconds).
			_ = removeAll(filepath.Join(e.sandboxesDir(), name))
			continue
		}
		if !ent.IsDir() || !strings.HasPrefix(name, externalPrefix) || !validName(name) {
			continue
		}
		dir := e.dir(name)
		m, err := readMeta(dir)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			continue // deleted meanwhile
		case err != nil:
			out = append(out, &backend.Sandbox{ExternalID: name, RecordID: strings.TrimPrefix(name, externalPrefix), State: backend.StateUnknown, Metadata: e.metadata(dir)})
		default:
			out = append(out, e.view(dir, m))
		}
	}
	return out, nil
}

// UpdateSandbox implements backend.Engine: runtime, timeout, vcpus, ports, purpose, options, volumes and env
// change in place and apply to the next command.
func (e *Engine) UpdateSandbox(ctx context.Context, externalID string, spec backend.SandboxSpec) (*backend.Sandbox, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := e.ValidateSpec(spec); err != nil {
		return nil, err
	}
	if err := checkVolumeDirs(spec.Volumes); err != nil {
		return nil, err
	}
	dir, err := e.dirOf(externalID)
	if err != nil {
		return nil, err
	}
	lk, err := lockSandbox(dir, true)
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
	m.UpdatedAt = time.Now().UTC()
	if err := writeEnv(dir, spec.Env); err != nil {
		return nil, err
	}
	if err := writeMeta(dir, m); err != nil {
		return nil, err
	}
	return e.view(dir, m), nil
}

// StartSandbox implements backend.Engine. It also completes a half-made sandbox (missing home or run
// directory); the env of such a sandbox is empty until UpdateSandbox sets it.
func (e *Engine) StartSandbox(ctx context.Context, externalID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, err := e.dirOf(externalID)
	if err != nil {
		return err
	}
	lk, err := lockSandbox(dir, true)
	if err != nil {
		return err
	}
	defer lk.unlock()
	m, err := readMeta(dir)
	if err != nil {
		return err
	}
	for _, d := range []string{filepath.Join(dir, "home"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("starting sandbox %s: %w", externalID, err)
		}
	}
	if m.State == backend.StateRunning {
		return nil
	}
	m.State = backend.StateRunning
	m.UpdatedAt = time.Now().UTC()
	return writeMeta(dir, m)
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
	lk, err := lockSandbox(dir, true)
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
	lk.unlock()
	return waitGone(ctx, procs)
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
	lk, err := lockSandbox(dir, true)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer lk.unlock()
	if err := waitGone(ctx, killRunning(dir)); err != nil {
		return err
	}
	// Rename first so that the sandbox disappears at once; the removal of its files may then take its time.
	trash := filepath.Join(e.sandboxesDir(), ".del-"+externalID+"-"+nonce())
	if err := os.Rename(dir, trash); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("deleting sandbox %s: %w", externalID, err)
	}
	if err := removeAll(trash); err != nil {
		return fmt.Errorf("deleting sandbox %s: removing %s: %w", externalID, trash, err)
	}
	return nil
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
		Metadata:   e.metadata(dir),
		CreatedAt:  m.CreatedAt,
	}
	if sb.State == "" {
		sb.State = backend.StateUnknown
	}
	// Loopback URLs are informational: under bubblewrap a sandbox has its own network namespace, so a port
	// it listens on is not reachable from the host.
	for i, p := range m.Ports {
		u := fmt.Sprintf("http://127.0.0.1:%d", p)
		sb.URLs[p] = u
		if i == 0 {
			sb.URL = u
		}
	}
	return sb
}

// metadata is what the record keeps under params.local. Never env values.
func (e *Engine) metadata(dir string) map[string]any {
	md := map[string]any{
		"isolation": e.isolation,
		"home":      filepath.Join(dir, "home"),
		"dir":       dir,
	}
	if e.isolation == IsolationNone {
		md["network"] = "host"
	} else {
		md["network"] = "none"
	}
	return md
}
