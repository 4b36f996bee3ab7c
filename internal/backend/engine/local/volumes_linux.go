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
// read-write where sandboxes mount it. Its only option is disk_mb: then data is a mount of volume.img, an ext4
// image of that size, made here and mounted once on the host (see mountVolume). A volume for the record that
// already exists is backend.ErrConflict.
func (e *Engine) CreateVolume(ctx context.Context, spec backend.VolumeSpec) (*backend.Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateVolumeSpec(spec, e.isolation); err != nil {
		return nil, onAttribute(err)
	}
	if !validName(spec.RecordID) {
		return nil, fmt.Errorf("local engine: record id %q cannot name a volume directory", spec.RecordID)
	}
	lim, _ := parseLimits(spec.Options)
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
	if err == nil && lim.diskMB > 0 {
		// The image is made here, and mounted once the directory is in place (a mount point is not moved).
		err = e.makeVolumeImage(tmp, lim.diskMB)
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
	if lim.diskMB > 0 {
		if err := e.mountVolume(ext, m); err != nil {
			if derr := e.DeleteVolume(context.WithoutCancel(ctx), ext); derr != nil {
				return nil, fmt.Errorf("creating volume %s: %w (and removing it failed: %w)", ext, err, derr)
			}
			return nil, fmt.Errorf("creating volume %s: %w", ext, err)
		}
	}
	return e.volumeView(m), nil
}

// volumeDiskMB is the size of a volume's disk image (disk_mb), 0 for a plain directory.
func (m *volumeMeta) diskMB() int64 {
	l, err := parseLimits(m.Options)
	if err != nil {
		return 0
	}
	return l.diskMB
}

// makeVolumeImage makes the disk image of a volume being made in dir (not yet mounted: see mountVolume). Its
// root directory is the sandbox user's, mode 0755 like a plain volume's data directory.
func (e *Engine) makeVolumeImage(dir string, sizeMB int64) error {
	return newExt4Image(filepath.Join(dir, volumeImageFile), sizeMB, e.sandboxUIDOrSelf(), e.sandboxGIDOrSelf())
}

// mountVolume mounts a volume's disk image on its data directory where it is not (after a reboot), under the
// volume's mount lock: one host mount per volume, which every sandbox mounting the volume binds. It does nothing
// for a volume without a disk image.
func (e *Engine) mountVolume(ext string, m *volumeMeta) error {
	if m.diskMB() <= 0 {
		return nil
	}
	dir := e.volumeDir(ext)
	data := filepath.Join(dir, volumeDataDir)
	if mountedOn(data) {
		return nil
	}
	lk, err := lockFileAt(filepath.Join(dir, mountLockFile), "volume", true)
	if err != nil {
		return err
	}
	defer lk.unlock()
	if mountedOn(data) {
		return nil
	}
	if err := mountDiskImage(filepath.Join(dir, volumeImageFile), data); err != nil {
		return fmt.Errorf("volume %s: %w", ext, err)
	}
	if err := os.Remove(filepath.Join(data, "lost+found")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Chmod(data, 0o755); err != nil {
		return err
	}
	return nil
}

// mountVolumes mounts the disk images of the engine volumes m mounts (mountVolume), before a sandbox binds them.
func (e *Engine) mountVolumes(m *meta) error {
	for _, v := range m.Volumes {
		if !isVolumeID(v.ExternalID) {
			continue
		}
		vm, err := e.readVolume(v.ExternalID)
		if err != nil {
			return fmt.Errorf("volume %s (%s): %w", v.VolumeID, v.ExternalID, err)
		}
		if err := e.mountVolume(v.ExternalID, vm); err != nil {
			return err
		}
	}
	return nil
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
	// No sandbox refers to it any more: its disk image, if any, is unmounted (the last user is gone).
	if err := unmountAt(filepath.Join(dir, volumeDataDir)); err != nil {
		return fmt.Errorf("deleting volume %s: %w", externalID, err)
	}
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

// ValidateVolumeSpec implements backend.VolumeValidator: the only local volume option is disk_mb, which needs
// root, mkfs.ext4 and loop devices (a refusal on local.disk_mb says which is missing).
func (e *Engine) ValidateVolumeSpec(spec backend.VolumeSpec) error {
	return onAttribute(validateVolumeSpec(spec, e.isolation))
}

// validateVolumeSpec checks a volume spec without touching the disk: its only option is disk_mb.
func validateVolumeSpec(spec backend.VolumeSpec, isolation string) error {
	if isolation == IsolationNone {
		return errors.New(`local volumes need isolation = "bwrap": with isolation = "none" nothing can be mounted`)
	}
	keys := make([]string, 0, len(spec.Options))
	for k, v := range spec.Options {
		if v != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != OptionDiskMB {
			return fmt.Errorf("unknown local volume option %q (local volumes take only %s)", k, OptionDiskMB)
		}
	}
	l, err := parseLimits(spec.Options)
	if err != nil {
		return err
	}
	if l.diskMB > 0 {
		if err := diskImagesWork(); err != nil {
			return &OptionError{OptionDiskMB, "cannot be enforced on this host: " + err.Error()}
		}
	}
	return nil
}

// UpdateVolume implements backend.VolumeUpdater: a larger disk_mb grows the volume's image in place, online
// under the sandboxes that mount it (its data stays); adding, removing or shrinking the disk is refused on
// local.disk_mb (a replacement).
func (e *Engine) UpdateVolume(ctx context.Context, externalID string, spec backend.VolumeSpec) (*backend.Volume, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateVolumeSpec(spec, e.isolation); err != nil {
		return nil, onAttribute(err)
	}
	m, err := e.readVolume(externalID)
	if err != nil {
		return nil, err
	}
	if spec.RecordID != "" && spec.RecordID != m.RecordID {
		return nil, fmt.Errorf("local volume %s belongs to record %s, not %s", externalID, m.RecordID, spec.RecordID)
	}
	dir := e.volumeDir(externalID)
	lk, err := lockFileAt(filepath.Join(dir, mountLockFile), "volume", true)
	if err != nil {
		return nil, err
	}
	defer lk.unlock()
	if err := changeDisk(m.Options, spec.Options, "volume", func(sizeMB int64) error {
		img, mnt := filepath.Join(dir, volumeImageFile), filepath.Join(dir, volumeDataDir)
		return growDiskImage(img, mnt, sizeMB, func() error {
			var users []string
			for _, b := range e.boxes(e.sandboxesDir(), metaFile) {
				for _, v := range b.meta.Volumes {
					if v.ExternalID == externalID {
						users = append(users, b.dir)
						break
					}
				}
			}
			return growOffline(img, mnt, users)
		})
	}); err != nil {
		return nil, onAttribute(err)
	}
	m.Options = spec.Options
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(dir, volumeFile, b, true); err != nil {
		return nil, fmt.Errorf("updating volume %s: %w", externalID, err)
	}
	return e.volumeView(m), nil
}
