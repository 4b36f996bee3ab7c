//go:build linux

package local

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// TestVolumeLifecycle: what a sandbox writes to a volume outlives it and is seen by the next sandbox that mounts
// the volume; a mounted volume cannot be deleted.
func TestVolumeLifecycle(t *testing.T) {
	t.Parallel()
	e := newBwrap(t)
	ctx := context.Background()
	volID := backend.NewID()
	vol, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: volID, Name: "cache"})
	if err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	if vol.ExternalID != "vol-"+volID || vol.RecordID != volID || vol.Name != "cache" || vol.State != "ready" {
		t.Errorf("CreateVolume = %+v", vol)
	}
	if _, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: volID}); !errors.Is(err, backend.ErrConflict) {
		t.Errorf("second CreateVolume = %v, want ErrConflict", err)
	}
	if _, err := e.CreateVolume(ctx, backend.VolumeSpec{RecordID: backend.NewID(), Options: map[string]any{"size": 1}}); err == nil {
		t.Errorf("CreateVolume with an option = nil error")
	}
	if got, err := e.GetVolume(ctx, vol.ExternalID); err != nil || got.Name != "cache" {
		t.Errorf("GetVolume = %+v, %v", got, err)
	}
	if got, err := e.FindVolume(ctx, volID); err != nil || got.ExternalID != vol.ExternalID {
		t.Errorf("FindVolume = %+v, %v", got, err)
	}
	if list, err := e.ListVolumes(ctx); err != nil || len(list) != 1 || list[0].ExternalID != vol.ExternalID {
		t.Errorf("ListVolumes = %v, %v", list, err)
	}

	mount := []backend.VolumeMount{{VolumeID: volID, ExternalID: vol.ExternalID, MountPath: "/data"}}
	first, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Volumes: mount})
	if err != nil {
		t.Fatal(err)
	}
	if res := sh(t, e, first.ExternalID, `mkdir -p /data/sub && echo kept > /data/sub/f && echo gone > lost`); res.ExitCode != 0 {
		t.Fatalf("writing the volume: %+v %q", res, res.Stderr)
	}
	// A second sandbox mounting it elsewhere sees the file at once.
	other := create(t, e, backend.SandboxSpec{Volumes: []backend.VolumeMount{{VolumeID: volID, ExternalID: vol.ExternalID, MountPath: "/home/sandbox/shared"}}})
	if res := sh(t, e, other.ExternalID, `cat shared/sub/f`); string(res.Stdout) != "kept\n" {
		t.Errorf("second sandbox: %q %q", res.Stdout, res.Stderr)
	}
	if err := e.DeleteSandbox(ctx, other.ExternalID); err != nil {
		t.Fatal(err)
	}

	err = e.DeleteVolume(ctx, vol.ExternalID)
	if !errors.Is(err, backend.ErrInUse) || !strings.Contains(err.Error(), first.ExternalID) || !strings.Contains(err.Error(), "/data") {
		t.Errorf("DeleteVolume while mounted = %v, want ErrInUse naming %s", err, first.ExternalID)
	}
	// Stopped still counts: the sandbox exists.
	if err := e.StopSandbox(ctx, first.ExternalID); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteVolume(ctx, vol.ExternalID); !errors.Is(err, backend.ErrInUse) {
		t.Errorf("DeleteVolume while a stopped sandbox mounts it = %v, want ErrInUse", err)
	}
	if err := e.DeleteSandbox(ctx, first.ExternalID); err != nil {
		t.Fatal(err)
	}

	next := create(t, e, backend.SandboxSpec{Volumes: mount})
	if res := sh(t, e, next.ExternalID, `cat /data/sub/f; ls -A`); string(res.Stdout) != "kept\n" {
		t.Errorf("the next sandbox sees %q (stderr %q), want the volume's file and an empty home", res.Stdout, res.Stderr)
	}
	// A sandbox can drop the mount in place; then the volume can go.
	if _, err := e.UpdateSandbox(ctx, next.ExternalID, backend.SandboxSpec{RecordID: next.RecordID}); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteVolume(ctx, vol.ExternalID); err != nil {
		t.Fatalf("DeleteVolume once unmounted: %v", err)
	}
	if _, err := e.GetVolume(ctx, vol.ExternalID); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("GetVolume after delete = %v, want ErrNotFound", err)
	}
	if err := e.DeleteVolume(ctx, vol.ExternalID); err != nil {
		t.Errorf("DeleteVolume of a missing volume = %v", err)
	}
	if _, err := e.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(), Volumes: mount}); err == nil || !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("CreateSandbox with a deleted volume = %v", err)
	}
	if _, err := e.UpdateSandbox(ctx, next.ExternalID, backend.SandboxSpec{RecordID: next.RecordID, Volumes: mount}); err == nil {
		t.Errorf("UpdateSandbox mounting a deleted volume = nil error")
	}
}

func TestVolumeMountRules(t *testing.T) {
	e := newBwrap(t)
	good := []backend.VolumeMount{{VolumeID: "a", ExternalID: "vol-a", MountPath: "/data"}, {VolumeID: "b", ExternalID: "vol-b", MountPath: "/home/sandbox/b"}}
	if err := e.ValidateSpec(backend.SandboxSpec{Volumes: good}); err != nil {
		t.Errorf("ValidateSpec: %v", err)
	}
	for name, mounts := range map[string][]backend.VolumeMount{
		"same path":       {{VolumeID: "a", ExternalID: "vol-a", MountPath: "/data"}, {VolumeID: "b", ExternalID: "vol-b", MountPath: "/data"}},
		"relative path":   {{VolumeID: "a", ExternalID: "vol-a", MountPath: "data"}},
		"forwarder":       {{VolumeID: "a", ExternalID: "vol-a", MountPath: egressDir}},
		"bad id":          {{VolumeID: "a", ExternalID: "vol-../x", MountPath: "/data"}},
		"not a volume id": {{VolumeID: "a", ExternalID: "volume", MountPath: "/data"}},
	} {
		if err := e.ValidateSpec(backend.SandboxSpec{Volumes: mounts}); err == nil {
			t.Errorf("ValidateSpec with %s = nil", name)
		}
	}
	if _, err := newNone(t).CreateVolume(context.Background(), backend.VolumeSpec{RecordID: "x"}); err == nil {
		t.Errorf("CreateVolume with isolation none = nil error")
	}
}
