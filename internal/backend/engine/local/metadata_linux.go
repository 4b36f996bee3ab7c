//go:build linux

package local

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"golang.org/x/sys/unix"
)

const (
	metaFile   = "sandbox.json"
	envFile    = "env.json"
	policyFile = "policy.json"
	lockFile   = "lock"
	runDir     = "run"
)

// Kinds of directories commands run in (meta.Kind).
const (
	kindSandbox   = ""          // a sandbox (sandbox.json)
	kindWorkspace = "workspace" // a workspace (workspace.json)
	kindBuilder   = "builder"   // the builder sandbox of a setup (sandbox.json, under setups/)
)

// meta is sandbox.json (or workspace.json). It never holds env values or credentials.
type meta struct {
	Version    int            `json:"version"`
	RecordID   string         `json:"record_id"`
	ExternalID string         `json:"external_id"`
	State      string         `json:"state"`
	Runtime    string         `json:"runtime,omitempty"`
	TimeoutMS  int64          `json:"timeout_ms"`
	VCPUs      int            `json:"vcpus,omitempty"`
	Ports      []int          `json:"ports"`
	Purpose    string         `json:"purpose,omitempty"`
	Options    map[string]any `json:"options,omitempty"`
	Volumes    []volume       `json:"volumes,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`

	Kind string `json:"kind,omitempty"` // kindSandbox, kindWorkspace or kindBuilder
	Name string `json:"name,omitempty"` // a workspace's name
	// Policy is the network policy's mode (the policy itself, with its credentials, is in policy.json).
	Policy string `json:"policy,omitempty"`
	// Setup is the external id of the setup artifact the home started from.
	Setup string `json:"setup,omitempty"`
	// SetupBuild is the artifact build (setups/builds/<name>) the home uses as its overlay lower layer; set
	// while the home is being made too, so that the build is kept meanwhile.
	SetupBuild string `json:"setup_build,omitempty"`
	// SetupCopy is how the home was made from the setup: CopyOverlay, CopyReflink or CopyPlain.
	SetupCopy string `json:"setup_copy,omitempty"`
	// Workspace is the external id of the workspace whose home a sandbox works on.
	Workspace string `json:"workspace,omitempty"`
}

type volume struct {
	VolumeID   string `json:"volume_id"`
	ExternalID string `json:"external_id,omitempty"` // a volume of this engine (vol-...); "" for a host directory
	HostPath   string `json:"host_path"`
	MountPath  string `json:"mount_path"`
}

// noun names the kind of directory in messages.
func (m *meta) noun() string {
	switch m.Kind {
	case kindWorkspace:
		return "workspace"
	case kindBuilder:
		return "setup builder"
	}
	return "sandbox"
}

// apply copies the spec's settings (not its env, policy, setup or workspace) into m. Volume host paths are
// filled in by resolveVolumes.
func (m *meta) apply(spec backend.SandboxSpec) {
	m.Runtime = spec.Runtime
	m.TimeoutMS = spec.Timeout.Milliseconds()
	m.VCPUs = spec.VCPUs
	m.Ports = append([]int{}, spec.Ports...)
	m.Purpose = spec.Purpose
	m.Options = spec.Options
	m.Volumes = nil
	for _, v := range spec.Volumes {
		vol := volume{VolumeID: v.VolumeID, HostPath: v.ExternalID, MountPath: v.MountPath}
		if isVolumeID(v.ExternalID) {
			vol.ExternalID, vol.HostPath = v.ExternalID, ""
		}
		m.Volumes = append(m.Volumes, vol)
	}
}

// policyMode is the mode a policy runs in under the isolation: none always shares the host's network.
func policyMode(p *backend.NetworkPolicy, isolation string) string {
	switch {
	case isolation == IsolationNone:
		return backend.PolicyAllowAll
	case p == nil:
		return backend.PolicyDenyAll
	}
	return p.Mode
}

// hasDisk reports whether the box's home is a disk image of its own (disk_mb, a plain home only).
func (m *meta) hasDisk() bool {
	if m.Workspace != "" {
		return false
	}
	l, err := parseLimits(m.Options)
	return err == nil && l.diskMB > 0
}

func (m *meta) timeout() time.Duration { return time.Duration(m.TimeoutMS) * time.Millisecond }

// readMeta reads a sandbox's metadata; a missing directory or file is backend.ErrNotFound.
func readMeta(dir string) (*meta, error) { return readMetaFile(dir, metaFile, "sandbox") }

// readMetaFile reads the metadata file of a sandbox, workspace or builder; a missing directory or file is
// backend.ErrNotFound.
func readMetaFile(dir, file, noun string) (*meta, error) {
	b, err := readSmallFile(filepath.Join(dir, file))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no local %s %s: %w", noun, filepath.Base(dir), backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", noun, filepath.Base(dir), err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading %s %s: %s: %w", noun, filepath.Base(dir), file, err)
	}
	return &m, nil
}

// metaFileOf is the metadata file of a kind.
func metaFileOf(kind string) string {
	if kind == kindWorkspace {
		return workspaceFile
	}
	return metaFile
}

func writeMeta(dir string, m *meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s metadata: %w", m.noun(), err)
	}
	return writeFileAtomic(dir, metaFileOf(m.Kind), b, true)
}

// writePolicy stores the network policy, credentials included, in policy.json (0600, outside the home); a nil
// policy removes the file.
func writePolicy(dir string, p *backend.NetworkPolicy) error {
	if p == nil {
		if err := os.Remove(filepath.Join(dir, policyFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the network policy: %w", err)
		}
		return nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding the network policy: %w", err)
	}
	if err := writeFileAtomic(dir, policyFile, b, true); err != nil {
		return fmt.Errorf("writing the network policy: %w", err)
	}
	return nil
}

// readPolicy reads policy.json; a missing file is nil (deny_all).
func readPolicy(dir string) (*backend.NetworkPolicy, error) {
	b, err := readSmallFile(filepath.Join(dir, policyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the network policy: %w", err)
	}
	var p backend.NetworkPolicy
	if err := json.Unmarshal(b, &p); err != nil {
		// The error of encoding/json may quote the input (credentials): do not wrap it.
		return nil, fmt.Errorf("reading the network policy: %s is not a JSON policy", policyFile)
	}
	return &p, nil
}

// writeEnv stores the sandbox env in env.json, mode 0600, outside the home. An empty env is no file (readEnv
// reads a missing file as an empty env): removing one is a directory change that the fsync of the metadata
// written after it commits, so the common create (no env) syncs one file fewer.
func writeEnv(dir string, env map[string]string) error {
	if len(env) == 0 {
		if err := os.Remove(filepath.Join(dir, envFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing sandbox env: %w", err)
		}
		return nil
	}
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encoding sandbox env: %w", err)
	}
	if err := writeFileAtomic(dir, envFile, b, true); err != nil {
		return fmt.Errorf("writing sandbox env: %w", err)
	}
	return nil
}

// readEnv reads env.json; a missing file (a half-made sandbox) is an empty env.
func readEnv(dir string) (map[string]string, error) {
	b, err := readSmallFile(filepath.Join(dir, envFile))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading sandbox env: %w", err)
	}
	env := map[string]string{}
	if err := json.Unmarshal(b, &env); err != nil {
		// The error of encoding/json may quote the input: do not wrap it.
		return nil, fmt.Errorf("reading sandbox env: %s is not a JSON object of strings", envFile)
	}
	return env, nil
}

// fileSyncs counts the files writeFileAtomic synced (tests check how many a create costs).
var fileSyncs atomic.Int64

// writeFileAtomic writes dir/name through a 0600 temporary file renamed into place, synced to disk first when
// durable is set.
func writeFileAtomic(dir, name string, data []byte, durable bool) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil && durable {
		fileSyncs.Add(1)
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, filepath.Join(dir, name))
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, werr)
	}
	return nil
}

// sandboxLock is a flock on a sandbox's lock file: it works between goroutines and between processes.
type sandboxLock struct{ f *os.File }

// lockSandbox locks dir/lock exclusively; a missing directory is backend.ErrNotFound.
func lockSandbox(dir string) (*sandboxLock, error) {
	return lockFileAt(filepath.Join(dir, lockFile), "sandbox", true)
}

// lockFileAt locks the file p (made if missing), shared or exclusive; a missing directory is
// backend.ErrNotFound, the noun naming what it belongs to.
func lockFileAt(p, noun string, exclusive bool) (*sandboxLock, error) {
	dir := filepath.Dir(p)
	f, err := openFile(p, unix.O_RDWR|unix.O_CREAT, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no local %s %s: %w", noun, filepath.Base(dir), backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s %s: %w", noun, filepath.Base(dir), err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking %s %s: %w", noun, filepath.Base(dir), err)
	}
	return &sandboxLock{f: f}, nil
}

// lockRefs locks root/refs.lock: shared while a sandbox or workspace takes a reference to a volume, a setup
// artifact or a workspace (checks it and records it in its metadata), exclusive while one of those is removed
// (checks that nothing refers to it and removes it).
func (e *Engine) lockRefs(exclusive bool) (*sandboxLock, error) {
	if err := os.MkdirAll(e.root, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", e.root, err)
	}
	return lockFileAt(filepath.Join(e.root, "refs.lock"), "engine root", exclusive)
}

// unlock releases the lock; it may be called more than once.
func (l *sandboxLock) unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Close() // closing the only descriptor releases the flock
	l.f = nil
}

// removeAll removes a tree, making directories writable first if a command made them read-only.
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil {
		return nil
	}
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, werr error) error {
		if werr == nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

func nonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}
