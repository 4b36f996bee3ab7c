//go:build linux

package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

const (
	volumeFile    = "volume.json"
	volumeDataDir = "data"
)

// volumeMeta is volumes/<external id>/volume.json.
type volumeMeta struct {
	Version    int            `json:"version"`
	RecordID   string         `json:"record_id"`
	ExternalID string         `json:"external_id"`
	Name       string         `json:"name,omitempty"`
	Options    map[string]any `json:"options,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
}

func (e *Engine) volumesDir() string { return filepath.Join(e.root, "volumes") }

func (e *Engine) volumeDir(externalID string) string {
	return filepath.Join(e.volumesDir(), externalID)
}

// readVolume reads a volume's metadata; an id that cannot be a local volume, or a missing volume, is
// backend.ErrNotFound.
func (e *Engine) readVolume(externalID string) (*volumeMeta, error) {
	if !isVolumeID(externalID) {
		return nil, fmt.Errorf("no local volume %q: %w", externalID, backend.ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(e.volumeDir(externalID), volumeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no local volume %s: %w", externalID, backend.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading volume %s: %w", externalID, err)
	}
	var m volumeMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("reading volume %s: %s: %w", externalID, volumeFile, err)
	}
	if _, err := os.Stat(filepath.Join(e.volumeDir(externalID), volumeDataDir)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local volume %s has lost its data directory: %w", externalID, backend.ErrNotFound)
	}
	return &m, nil
}

func (e *Engine) volumeView(m *volumeMeta) *backend.Volume {
	dir := e.volumeDir(m.ExternalID)
	return &backend.Volume{
		ExternalID: m.ExternalID,
		RecordID:   m.RecordID,
		Name:       m.Name,
		State:      "ready",
		Metadata:   map[string]any{"dir": filepath.Join(dir, volumeDataDir)},
	}
}

// CreateVolume implements backend.VolumeEngine: a directory volumes/vol-<record id>/data, bind-mounted
// read-write where sandboxes mount it. There are no volume options. A volume for the record that already
// exists is backend.ErrConflict.
func (e *Engine) CreateVolume(ctx context.Context, spec backend.VolumeSpec) (*backend.Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if e.isolation == IsolationNone {
		return nil, errors.New(`local volumes need isolation = "bwrap": with isolation = "none" nothing can be mounted`)
	}
	if !validName(spec.RecordID) {
		return nil, fmt.Errorf("local engine: record id %q cannot name a volume directory", spec.RecordID)
	}
	for k, v := range spec.Options {
		if v != nil {
			return nil, fmt.Errorf("unknown local volume option %q (local volumes take none)", k)
		}
	}
	parent := e.volumesDir()
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", parent, err)
	}
	ext := volumePrefix + spec.RecordID
	m := &volumeMeta{Version: 1, RecordID: spec.RecordID, ExternalID: ext, Name: spec.Name, Options: spec.Options, CreatedAt: time.Now().UTC()}
	tmp, err := os.MkdirTemp(parent, newDirPrefix(ext))
	if err != nil {
		return nil, fmt.Errorf("creating volume directory: %w", err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err == nil {
		err = os.Mkdir(filepath.Join(tmp, volumeDataDir), 0o755)
	}
	if err == nil && e.sandboxUID >= 0 {
		err = os.Chown(filepath.Join(tmp, volumeDataDir), e.sandboxUID, e.sandboxGID)
	}
	if err == nil {
		err = writeFileAtomic(tmp, volumeFile, b, true)
	}
	if err == nil {
		err = os.Rename(tmp, e.volumeDir(ext))
		if err != nil {
			if _, serr := os.Stat(e.volumeDir(ext)); serr == nil {
				_ = os.RemoveAll(tmp)
				return nil, fmt.Errorf("a local volume for record %s already exists (%s): %w", spec.RecordID, ext, backend.ErrConflict)
			}
		}
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("creating volume %s: %w", ext, err)
	}
	return e.volumeView(m), nil
}

// GetVolume implements backend.VolumeEngine.
func (e *Engine) GetVolume(ctx context.Context, externalID string) (*backend.Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := e.readVolume(externalID)
	if err != nil {
		return nil, err
	}
	return e.volumeView(m), nil
}

// FindVolume implements backend.VolumeEngine.
func (e *Engine) FindVolume(ctx context.Context, recordID string) (*backend.Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validName(recordID) {
		return nil, fmt.Errorf("no local volume for record %q: %w", recordID, backend.ErrNotFound)
	}
	m, err := e.readVolume(volumePrefix + recordID)
	if err != nil {
		return nil, err
	}
	if m.RecordID != recordID {
		return nil, fmt.Errorf("no local volume for record %q: %w", recordID, backend.ErrNotFound)
	}
	return e.volumeView(m), nil
}

// ListVolumes implements backend.VolumeEngine. Leftovers of interrupted creates and deletes are removed.
func (e *Engine) ListVolumes(ctx context.Context) ([]*backend.Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := listBoxes(e.volumesDir(), "volumes", removeAll, isVolumeID)
	if err != nil {
		return nil, err
	}
	var out []*backend.Volume
	for _, name := range names {
		m, err := e.readVolume(name)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			continue
		case err != nil:
			out = append(out, &backend.Volume{ExternalID: name, RecordID: strings.TrimPrefix(name, volumePrefix), State: backend.StateUnknown})
		default:
			out = append(out, e.volumeView(m))
		}
	}
	return out, nil
}

// DeleteVolume implements backend.VolumeEngine: a volume that a sandbox (running or stopped) still mounts is
// not removed: the error wraps backend.ErrInUse and names the sandboxes. A missing volume is not an error.
func (e *Engine) DeleteVolume(ctx context.Context, externalID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !isVolumeID(externalID) {
		return nil
	}
	refs, err := e.lockRefs(true)
	if err != nil {
		return err
	}
	defer refs.unlock()
	var users []string
	for _, b := range e.boxes(e.sandboxesDir(), metaFile) {
		for _, v := range b.meta.Volumes {
			if v.ExternalID == externalID {
				users = append(users, fmt.Sprintf("%s (record %s, at %s)", b.meta.ExternalID, b.meta.RecordID, v.MountPath))
			}
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return fmt.Errorf("local volume %s is mounted by sandbox %s: delete those sandboxes or remove the mount first: %w", externalID, strings.Join(users, ", "), backend.ErrInUse)
	}
	dir := e.volumeDir(externalID)
	trash := filepath.Join(e.volumesDir(), ".del-"+externalID+"-"+nonce())
	if err := os.Rename(dir, trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("deleting volume %s: %w", externalID, err)
	}
	if err := removeAll(trash); err != nil {
		return fmt.Errorf("deleting volume %s: removing %s: %w", externalID, trash, err)
	}
	return nil
}

// box is a sandbox or workspace directory with its metadata.
type box struct {
	dir  string
	meta *meta
}

// boxes lists the sandboxes or workspaces under parent whose metadata can be read, half-made ones included
// (.new- directories already hold their metadata).
func (e *Engine) boxes(parent, file string) []box {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var out []box
	for _, ent := range entries {
		if !ent.IsDir() || strings.HasPrefix(ent.Name(), ".del-") {
			continue
		}
		dir := filepath.Join(parent, ent.Name())
		if m, err := readMetaFile(dir, file, "sandbox"); err == nil {
			out = append(out, box{dir, m})
		}
	}
	return out
}
