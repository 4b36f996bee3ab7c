package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/sweep"
)

var uuidRegexp = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestEveryResourceHasIdentity: every resource the provider serves has an identity whose only attribute is the
// record id, required for import.
func TestEveryResourceHasIdentity(t *testing.T) {
	p := New("test")()
	for _, f := range p.Resources(context.Background()) {
		r := f()
		var meta fwresource.MetadataResponse
		r.Metadata(context.Background(), fwresource.MetadataRequest{ProviderTypeName: "sandbox"}, &meta)
		ri, ok := r.(fwresource.ResourceWithIdentity)
		if !ok {
			t.Errorf("%s has no identity", meta.TypeName)
			continue
		}
		var resp fwresource.IdentitySchemaResponse
		ri.IdentitySchema(context.Background(), fwresource.IdentitySchemaRequest{}, &resp)
		if len(resp.IdentitySchema.Attributes) != 1 || resp.IdentitySchema.Attributes["id"] == nil {
			t.Errorf("%s: identity attributes %v, want exactly id", meta.TypeName, resp.IdentitySchema.Attributes)
			continue
		}
		if !resp.IdentitySchema.Attributes["id"].IsRequiredForImport() {
			t.Errorf("%s: identity id is not required for import", meta.TypeName)
		}
		if _, ok := r.(fwresource.ResourceWithImportState); !ok {
			t.Errorf("%s lost ImportState in its identity wrapper", meta.TypeName)
		}
	}
	// The wrappers keep the resources' optional interfaces (plan-time checks above all).
	if _, ok := withIdentity(NewSandboxResource()).(fwresource.ResourceWithModifyPlan); !ok {
		t.Error("sandbox_sandbox lost ModifyPlan in its identity wrapper")
	}
	if _, ok := withIdentity(NewSandboxResource()).(fwresource.ResourceWithValidateConfig); !ok {
		t.Error("sandbox_sandbox lost ValidateConfig in its identity wrapper")
	}
}

func identityConfig(env *testEnv) string {
	return env.providerHCL() + `
resource "sandbox_setup" "base" {
  command = ["sh", "-c", "echo from-setup > base.txt"]
  timeout = "90s"
}

resource "sandbox_volume" "data" {
  name = "data"
}

resource "sandbox_sandbox" "box" {
  setup_id = sandbox_setup.base.id
  timeout  = "2m"
  purpose  = "ci"
  volume {
    volume_id  = sandbox_volume.data.id
    mount_path = "/data"
  }
}

resource "sandbox_workspace" "ws" {
  name     = "ws"
  setup_id = sandbox_setup.base.id
}

resource "sandbox_command" "run" {
  sandbox_id = sandbox_sandbox.box.id
  command    = ["cat", "base.txt"]
}
`
}

var identityAddrs = []string{"sandbox_setup.base", "sandbox_volume.data", "sandbox_sandbox.box", "sandbox_workspace.ws", "sandbox_command.run"}

// TestAccIdentity_everyResource (Terraform 1.12+, run under 1.14): after apply every resource's identity in
// state is its record id; `import { to = ..., identity = { id = ... } }` imports each one with a no-op plan and the
// same identity; and the import by id keeps working.
func TestAccIdentity_everyResource(t *testing.T) {
	env := newTestEnv(t)
	cfg := identityConfig(env)
	var checks []statecheck.StateCheck
	for _, addr := range identityAddrs {
		checks = append(checks,
			statecheck.ExpectIdentity(addr, map[string]knownvalue.Check{"id": knownvalue.StringRegexp(uuidRegexp)}),
			statecheck.ExpectIdentityValueMatchesState(addr, tfjsonpath.New("id")))
	}
	steps := []resource.TestStep{{Config: cfg, ConfigStateChecks: checks}, {Config: cfg, PlanOnly: true}}
	for _, addr := range identityAddrs {
		steps = append(steps,
			resource.TestStep{ResourceName: addr, ImportState: true, ImportStateKind: resource.ImportBlockWithResourceIdentity,
				ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionNoop)}}},
			resource.TestStep{ResourceName: addr, ImportState: true, ImportStateKind: resource.ImportBlockWithID,
				ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionNoop)}}})
	}
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_12_0)},
		ProtoV6ProviderFactories: testProviderFactories,
		Steps:                    steps,
	})
}

// TestAccIdentity_wrongKind: an identity naming a record of another kind fails the import and says which
// resource type imports it.
func TestAccIdentity_wrongKind(t *testing.T) {
	env := newTestEnv(t)
	cfg := env.providerHCL() + `
resource "sandbox_volume" "data" {
  name = "data"
}
`
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_12_0)},
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				Config: cfg + `
import {
  to       = sandbox_sandbox.wrong
  identity = { id = sandbox_volume.data.id }
}

resource "sandbox_sandbox" "wrong" {}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`record\s+of\s+sandbox_volumes:\s+import\s+it\s+as\s+a\s+sandbox_volume`),
			},
		},
	})
}

// TestAccImport_claimsTheRecord: a record another configuration made (scope other#default) and imported here
// keeps its scope while the import is only planned and applied, and becomes this configuration's on the first
// refresh from the saved state; so the other configuration's sweep no longer counts it as its own (which removed
// the object this configuration now manages), and it is confirmed (no killed apply of the other one adopts it).
func TestAccImport_claimsTheRecord(t *testing.T) {
	env := newTestEnv(t)
	other := &backend.Lifecycle{Store: env.store(), Engines: backend.EngineMap{"local": env.engine()}, Scope: "other#default"}
	vol, _, err := other.CreateVolume(context.Background(), backend.VolumeRequest{Backend: "local", Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	scopeIs := func(want string, confirmed bool) resource.TestCheckFunc {
		return func(*terraform.State) error {
			rec, err := env.store().Get(context.Background(), backend.EntityVolumes, vol.ID)
			if err != nil {
				return err
			}
			book := bookkeepingOf(rec)
			if got := sweep.Scope(rec); got != want || (book[backend.BookConfirmed] == true) != confirmed {
				return fmt.Errorf("record scope %q confirmed %v, want %q %v", got, book[backend.BookConfirmed], want, confirmed)
			}
			return nil
		}
	}
	cfg := env.providerHCL() + fmt.Sprintf(`
import {
  to = sandbox_volume.data
  id = %q
}

resource "sandbox_volume" "data" {
  name = "data"
}
`, vol.ID)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg, Check: scopeIs("other#default", false)},
			{Config: cfg, Check: scopeIs(defaultScope(), true)},
		},
	})
}
