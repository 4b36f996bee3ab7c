package vercel

import (
	"errors"
	"testing"
	"time"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
)

// The provider points a plan-time refusal at the attribute it is about: ValidateSpec says which one.
func TestValidateSpecNamesTheField(t *testing.T) {
	e := newTestEngine(t, startFake(t, vercelfake.Config{}))
	for field, spec := range map[string]backend.SandboxSpec{
		"vcpus":   {VCPUs: 3},
		"ports":   {Ports: []int{80}},
		"timeout": {Timeout: 25 * time.Hour},
		"runtime": {Runtime: "node18"},
		"volume":  {Volumes: []backend.VolumeMount{{VolumeID: "v", ExternalID: "x", MountPath: "/data"}}},
		"policy":  {Policy: &backend.NetworkPolicy{Mode: "allow_list"}},
	} {
		err := e.ValidateSpec(spec)
		var ae *backend.AttrError
		if !errors.As(err, &ae) || len(ae.Path) != 1 || ae.Path[0] != field {
			t.Errorf("ValidateSpec(%s) = %v, want an AttrError about %q", field, err, field)
		}
	}
	// Engine options are not one attribute of the resource: no AttrError.
	err := e.ValidateSpec(backend.SandboxSpec{Options: map[string]any{"snapshot_expiration": "1h"}})
	var ae *backend.AttrError
	if err == nil || errors.As(err, &ae) {
		t.Errorf("ValidateSpec(bad option) = %v, want a plain error", err)
	}
}
