package daytona

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// The resource's labels (SandboxSpec.Labels) go on the Daytona sandbox beside the library's ekairos labels, at
// create and by PUT /labels at update; the daytona block's labels option wins over them, and keys the provider
// sets are refused.
func TestUserLabels(t *testing.T) {
	ctx := context.Background()
	f := newFake(t)
	e := newEngine(t, f)
	spec := backend.SandboxSpec{RecordID: "0a6f0c57-0000-4000-8000-000000000001", Labels: map[string]string{"team": "infra", "env": "dev"},
		Options: map[string]any{"labels": map[string]any{"env": "block"}}}
	sb, err := e.CreateSandbox(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.DeleteSandbox(context.Background(), sb.ExternalID) })
	labels := func() map[string]string {
		for _, s := range f.LiveSandboxes() {
			if s.ID == sb.ExternalID {
				return s.Labels
			}
		}
		t.Fatalf("sandbox %s not in the fake", sb.ExternalID)
		return nil
	}
	l := labels()
	if l["team"] != "infra" || l["env"] != "block" || l[LabelEkairos] != "1" || l[LabelRecordID] != spec.RecordID {
		t.Fatalf("labels after create: %v", l)
	}
	puts := f.Count("PUT /sandbox/{id}/labels")
	spec.Labels = map[string]string{"team": "platform"}
	spec.Options = nil
	if _, err := e.UpdateSandbox(ctx, sb.ExternalID, spec); err != nil {
		t.Fatal(err)
	}
	l = labels()
	if l["team"] != "platform" || l["env"] != "" || l[LabelEkairos] != "1" || l[LabelRecordID] != spec.RecordID {
		t.Fatalf("labels after update: %v", l)
	}
	if f.Count("PUT /sandbox/{id}/labels") != puts+1 {
		t.Fatalf("a label change made %d PUT /labels", f.Count("PUT /sandbox/{id}/labels")-puts)
	}
	for _, k := range []string{"ekairos", "ekairos_sandbox_id", LabelLanguage} {
		spec.Labels = map[string]string{k: "x"}
		err := e.ValidateSpec(spec)
		var ae *backend.AttrError
		if err == nil || !strings.Contains(err.Error(), "reserved") || !errors.As(err, &ae) || strings.Join(ae.Path, ".") != "labels" {
			t.Errorf("label %q: %v", k, err)
		}
	}
}

// A workspace's labels go on its Daytona sandbox, at create and at update.
func TestWorkspaceUserLabels(t *testing.T) {
	f := newFake(t)
	e := newEngine(t, f)
	ctx := context.Background()
	spec := backend.WorkspaceSpec{RecordID: backend.NewID(), Name: "agent", Labels: map[string]string{"team": "infra"}}
	ws, err := e.CreateWorkspace(ctx, spec)
	if err != nil {
		t.Fatalf("CreateWorkspace: %v", err)
	}
	t.Cleanup(func() { _ = e.DeleteWorkspace(context.Background(), ws.ExternalID) })
	labelsOf := func() map[string]string {
		sbID, _ := ws.Metadata["sandboxId"].(string)
		for _, s := range f.LiveSandboxes() {
			if s.ID == sbID {
				return s.Labels
			}
		}
		t.Fatalf("workspace sandbox %q not on the fake", sbID)
		return nil
	}
	if l := labelsOf(); l["team"] != "infra" || l[LabelWorkspaceID] != spec.RecordID {
		t.Fatalf("workspace sandbox labels after create: %v", l)
	}
	spec.Labels = map[string]string{"team": "platform"}
	if _, err := e.UpdateWorkspace(ctx, ws.ExternalID, spec); err != nil {
		t.Fatal(err)
	}
	if l := labelsOf(); l["team"] != "platform" || l[LabelWorkspaceID] != spec.RecordID {
		t.Fatalf("workspace sandbox labels after update: %v", l)
	}
}
