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
	"syscall"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

const (
	metaFile = "sandbox.json"
	envFile  = "env.json"
	lockFile = "lock"
	runDir   = "run"
)

// meta is sandbox.json. It never holds env values.
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
}

type volume struct {
	VolumeID  string `json:"volume_id"`
	HostPath  string `json:"host_path"`
	MountPath string `json:"mount_path"`
}

// apply copies the spec's settings (not its env) into m.
func (m *meta) apply(spec backend.SandboxSpec) {
	m.Runtime = spec.Runtime
	m.TimeoutMS = spec.Timeout.Milliseconds()
	m.VCPUs = spec.VCPUs
	m.Ports = append([]int{}, spec.Ports...)
	m.Purpose = spec.Purpose
	m.Options = spec.Options
	m.Volumes = nil
	for _, v := range spec.Volumes {
		m.Volumes = append(m.Volumes, volume{VolumeID: v.VolumeID, HostPath: v.ExternalID, MountPath: v.MountPath})
	}
}

func (m *meta) timeout() time.Duration { return time.Duration(m.TimeoutMS) * time.Millisecond }

// readMeta reads a sandbox's metadata; a missing directory or file is backend.ErrNotFound.
func readMeta(dir string) (*meta, error) {
	b, err := os.ReadFile(filepath.Join(dir, metaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no local sandbox %s: %w", filepath.Base(dir), backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading sandbox %s: %w", filepath.Base(dir), err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading sandbox %s: %s: %w", filepath.Base(dir), metaFile, err)
	}
	return &m, nil
}

func writeMeta(dir string, m *meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding sandbox metadata: %w", err)
	}
	return writeFileAtomic(dir, metaFile, b, true)
}

// writeEnv stores the sandbox env in env.json, mode 0600, outside the home.
func writeEnv(dir string, env map[string]string) error {
	if env == nil {
		env = map[string]string{}
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
	b, err := os.ReadFile(filepath.Join(dir, envFile))
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

// lockSandbox locks dir/lock, shared or exclusive; a missing directory is backend.ErrNotFound.
func lockSandbox(dir string, exclusive bool) (*sandboxLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no local sandbox %s: %w", filepath.Base(dir), backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("locking sandbox %s: %w", filepath.Base(dir), err)
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
		return nil, fmt.Errorf("locking sandbox %s: %w", filepath.Base(dir), err)
	}
	return &sandboxLock{f: f}, nil
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
