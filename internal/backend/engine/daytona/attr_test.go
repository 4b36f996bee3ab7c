package daytona

import (
	"errors"
	"slices"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// Spec errors name the attribute they are about, so that the provider reports them there at plan time.
func TestSpecErrorsNameTheAttribute(t *testing.T) {
	e := &Engine{cfg: Config{}}
	creds := &backend.NetworkPolicy{Mode: backend.PolicyAllowList, Presets: []string{"github"}, Credentials: map[string]string{"github": "t"}}
	for _, c := range []struct {
		name string
		spec backend.SandboxSpec
		want []string
	}{
		{"vcpus without image", backend.SandboxSpec{VCPUs: 2}, []string{"vcpus"}},
		{"cpu with snapshot", backend.SandboxSpec{Options: map[string]any{"snapshot": "s", "cpu": 2}}, []string{"daytona", "cpu"}},
		{"disk alone", backend.SandboxSpec{Options: map[string]any{"disk": 5}}, []string{"daytona", "disk"}},
		{"image and snapshot", backend.SandboxSpec{Options: map[string]any{"snapshot": "s", "image": "python:3.12"}}, []string{"daytona", "snapshot"}},
		{"bad label", backend.SandboxSpec{Options: map[string]any{"labels": map[string]any{"ekairos_x": "1"}}}, []string{"daytona", "labels"}},
		{"setup and image", backend.SandboxSpec{Setup: "snap", Options: map[string]any{"image": "python:3.12"}}, []string{"setup_id"}},
		{"runtime", backend.SandboxSpec{Runtime: "cobol"}, []string{"runtime"}},
		{"env", backend.SandboxSpec{Env: map[string]string{"1BAD": "x"}}, []string{"env"}},
		{"ports", backend.SandboxSpec{Ports: []int{70000}}, []string{"ports"}},
		{"credentials", backend.SandboxSpec{Policy: creds}, []string{"policy", "credentials_wo"}},
	} {
		err := e.ValidateSpec(c.spec)
		var ae *backend.AttrError
		if !errors.As(err, &ae) || !slices.Equal(ae.Path, c.want) {
			t.Errorf("%s: ValidateSpec = %v (%+v); want an error on %v", c.name, err, ae, c.want)
		}
	}
	if err := e.ValidatePolicy(creds); err == nil {
		t.Errorf("ValidatePolicy with credentials = nil")
	}
	if err := e.ValidatePolicy(nil); err != nil {
		t.Errorf("ValidatePolicy(nil) = %v", err)
	}
}
