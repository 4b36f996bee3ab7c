package daytona

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Daytona volumes have no labels, so the record id is part of the volume's name: "<name>-ekairos-vol-<record
// id>" (or "ekairos-vol-<record id>" without a name). Workspace volumes are "ekairos-ws-<record id>".
const (
	volumeMarker    = "ekairos-vol-"
	workspacePrefix = "ekairos-ws-"
)

var volumeNameRE = regexp.MustCompile(`(?:^|-)ekairos-vol-(.+)$`)

var unsafeNameChars = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// volumeName is the Daytona name of a volume made for a record.
func volumeName(name, recordID string) string {
	n := strings.Trim(unsafeNameChars.ReplaceAllString(name, "-"), "-.")
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-.")
	}
	if n == "" {
		return volumeMarker + recordID
	}
	return n + "-" + volumeMarker + recordID
}

// volumeRecordID returns the record id in a volume's name, or "".
func volumeRecordID(name string) string {
	if m := volumeNameRE.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return ""
}

// getVolume reads a volume; a 404 or a deleted volume (Daytona keeps those readable by id) is an error
// wrapping backend.ErrNotFound.
func (e *Engine) getVolume(ctx context.Context, idOrPath string) (*volumeDTO, error) {
	var v volumeDTO
	err := e.c.do(ctx, request{method: http.MethodGet, path: "/volumes/" + idOrPath, idempotent: true, out: &v})
	if err != nil {
		return nil, err
	}
	if v.State == volDeleted {
		return nil, fmt.Errorf("daytona volume %s is deleted: %w", v.ID, backend.ErrNotFound)
	}
	return &v, nil
}

func (e *Engine) listVolumes(ctx context.Context) ([]volumeDTO, error) {
	var list []volumeDTO
	if err := e.c.do(ctx, request{method: http.MethodGet, path: "/volumes", idempotent: true, out: &list}); err != nil {
		return nil, err
	}
	out := list[:0]
	for _, v := range list {
		if v.State != volDeleted {
			out = append(out, v)
		}
	}
	return out, nil
}

// createVolume creates a volume by name, adopting an existing one of that name (a create whose answer was
// lost), and waits until it is ready.
func (e *Engine) createVolume(ctx context.Context, name string) (*volumeDTO, error) {
	var v volumeDTO
	err := e.c.do(ctx, request{method: http.MethodPost, path: "/volumes", body: map[string]string{"name": name}, idempotent: true, out: &v})
	if s := statusOf(err); (s == http.StatusBadRequest || s == http.StatusConflict) && strings.Contains(apiMessage(err), "already exists") {
		existing, gerr := e.getVolume(ctx, "by-name/"+url.PathEscape(name))
		if gerr != nil {
			return nil, fmt.Errorf("%w (and reading it: %w)", err, gerr)
		}
		v = *existing
	} else if err != nil {
		return nil, err
	}
	return e.waitVolumeReady(ctx, v.ID)
}

// waitVolumeReady waits until a volume is ready (a volume must be ready to be mounted).
func (e *Engine) waitVolumeReady(ctx context.Context, id string) (*volumeDTO, error) {
	var last *volumeDTO
	err := e.c.poll(ctx, "volume "+id+" to be ready", func() (bool, error) {
		v, err := e.getVolume(ctx, url.PathEscape(id))
		if err != nil {
			return false, err
		}
		last = v
		switch v.State {
		case volReady:
			return true, nil
		case volError:
			return false, fmt.Errorf("daytona volume %s is in state error: %s", id, v.ErrorReason)
		case volPendingDelete, volDeleting:
			return false, fmt.Errorf("daytona volume %s is being deleted: %w", id, backend.ErrNotFound)
		}
		return false, nil
	}, func() string {
		if last == nil {
			return "not read yet"
		}
		return last.State
	})
	return last, err
}

func volumeView(v *volumeDTO) *backend.Volume {
	return &backend.Volume{
		ExternalID: v.ID,
		RecordID:   volumeRecordID(v.Name),
		Name:       v.Name,
		State:      v.State,
		Metadata:   map[string]any{"volumeName": v.Name},
	}
}

// CreateVolume implements backend.VolumeEngine. The volume's Daytona name carries the record id (volumes have
// no labels); spec.Options must be empty.
func (e *Engine) CreateVolume(ctx context.Context, spec backend.VolumeSpec) (*backend.Volume, error) {
	if spec.RecordID == "" {
		return nil, errors.New("daytona: CreateVolume needs the record id")
	}
	for k, v := range spec.Options {
		if v != nil {
			return nil, fmt.Errorf("unknown daytona option %q for a volume (volumes take none)", k)
		}
	}
	v, err := e.createVolume(ctx, volumeName(spec.Name, spec.RecordID))
	if err != nil {
		return nil, err
	}
	return volumeView(v), nil
}

// GetVolume implements backend.VolumeEngine: a deleted volume reads as backend.ErrNotFound.
func (e *Engine) GetVolume(ctx context.Context, externalID string) (*backend.Volume, error) {
	v, err := e.getVolume(ctx, url.PathEscape(externalID))
	if err != nil {
		return nil, err
	}
	return volumeView(v), nil
}

// FindVolume implements backend.VolumeEngine by the record id in the volume names.
func (e *Engine) FindVolume(ctx context.Context, recordID string) (*backend.Volume, error) {
	list, err := e.listVolumes(ctx)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if recordID != "" && volumeRecordID(list[i].Name) == recordID {
			return volumeView(&list[i]), nil
		}
	}
	return nil, fmt.Errorf("daytona: no volume for record %s: %w", recordID, backend.ErrNotFound)
}

// ListVolumes implements backend.VolumeEngine: the volumes this provider made for volume records (not
// workspaces').
func (e *Engine) ListVolumes(ctx context.Context) ([]*backend.Volume, error) {
	list, err := e.listVolumes(ctx)
	if err != nil {
		return nil, err
	}
	var out []*backend.Volume
	for i := range list {
		if volumeRecordID(list[i].Name) != "" {
			out = append(out, volumeView(&list[i]))
		}
	}
	return out, nil
}

// DeleteVolume implements backend.VolumeEngine. A volume mounted by a sandbox that is not destroyed is
// refused by Daytona (409); the error wraps backend.ErrInUse and carries Daytona's message. It waits until
// the volume is deleted; a missing one is not an error.
func (e *Engine) DeleteVolume(ctx context.Context, externalID string) error {
	err := e.deleteVolume(ctx, externalID)
	if errors.Is(err, backend.ErrNotFound) {
		return nil
	}
	return err
}

func (e *Engine) deleteVolume(ctx context.Context, id string) error {
	var last string
	deleted := false
	return e.c.poll(ctx, "volume "+id+" to be deleted", func() (bool, error) {
		v, err := e.getVolume(ctx, url.PathEscape(id))
		if errors.Is(err, backend.ErrNotFound) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		last = v.State
		if deleted || (v.State != volReady && v.State != volError) {
			return false, nil // creating, or already being deleted: wait
		}
		err = e.c.do(ctx, request{method: http.MethodDelete, path: "/volumes/" + url.PathEscape(id), idempotent: true})
		if err == nil {
			deleted = true
			return false, nil
		}
		switch {
		case errors.Is(err, backend.ErrNotFound):
			return true, nil
		case statusOf(err) == http.StatusConflict:
			return false, fmt.Errorf("daytona volume %s: %s: %w", id, apiMessage(err), backend.ErrInUse)
		}
		return false, err
	}, func() string { return last })
}
