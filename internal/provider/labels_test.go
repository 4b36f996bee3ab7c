package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// labelsProviderHCL is the test's provider block with default_labels.
func (e *testEnv) labelsProviderHCL(defaults string) string {
	hcl := e.providerHCL()
	return strings.Replace(hcl, "provider \"sandbox\" {\n", "provider \"sandbox\" {\n  default_labels = "+defaults+"\n", 1)
}

func labelsConfig(env *testEnv, defaults string) string {
	return env.labelsProviderHCL(defaults) + `
resource "sandbox_volume" "v" {
  name = "labelled"
}

resource "sandbox_setup" "s" {
  command = ["true"]
  labels  = { tier = "base" }
}

resource "sandbox_sandbox" "box" {
  purpose = "agent"
  labels  = { env = "prod", app = "web" }
}

resource "sandbox_workspace" "w" {
  name   = "w"
  labels = { app = "ws" }
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.box.id
  command    = ["true"]
  labels     = { job = "smoke" }
}

data "sandbox_records" "web" {
  labels     = { app = "web" }
  depends_on = [sandbox_sandbox.box, sandbox_workspace.w]
}

data "sandbox_records" "smoke" {
  kind       = "process"
  labels     = { job = "smoke", team = "infra" }
  depends_on = [sandbox_command.c]
}

data "sandbox_records" "none" {
  labels     = { app = "nope" }
  depends_on = [sandbox_sandbox.box]
}
`
}

// recordLabels checks the labels a resource's record holds (params.labels; metadata.labels of a run).
func (e *testEnv) recordLabels(addr string, want map[string]string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		entity := map[string]string{"sandbox_sandbox": backend.EntitySandboxes, "sandbox_volume": backend.EntityVolumes,
			"sandbox_setup": backend.EntitySetups, "sandbox_workspace": backend.EntityWorkspaces, "sandbox_command": backend.EntityProcesses}[strings.Split(addr, ".")[0]]
		rec, err := e.store().Get(context.Background(), entity, attrOf(s, addr, "id"))
		if err != nil {
			return err
		}
		if got := backend.LabelsOf(rec); !backend.SameLabels(got, want) {
			return fmt.Errorf("%s: the record's labels are %v, want %v", addr, got, want)
		}
		return nil
	}
}

func stringMapCheck(m map[string]string) knownvalue.Check {
	vals := map[string]knownvalue.Check{}
	for k, v := range m {
		vals[k] = knownvalue.StringExact(v)
	}
	return knownvalue.MapExact(vals)
}

// TestAccLabels_defaultLabels: default_labels merge under every resource's labels into labels_all (the
// resource's win), the records hold labels_all, sandbox_records filters on them, a change of default_labels is an
// in-place update of every resource, and imports give back labels without the default ones.
func TestAccLabels_defaultLabels(t *testing.T) {
	env := newTestEnv(t)
	dev := `{ team = "infra", env = "dev" }`
	stage := `{ team = "infra", env = "stage" }`
	boxAll := map[string]string{"team": "infra", "env": "prod", "app": "web"}
	volAll := map[string]string{"team": "infra", "env": "dev"}
	steps := []resource.TestStep{
		{
			Config: labelsConfig(env, dev),
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("sandbox_sandbox.box", tfjsonpath.New("labels_all"), stringMapCheck(boxAll)),
				statecheck.ExpectKnownValue("sandbox_sandbox.box", tfjsonpath.New("labels"), stringMapCheck(map[string]string{"env": "prod", "app": "web"})),
				statecheck.ExpectKnownValue("sandbox_volume.v", tfjsonpath.New("labels_all"), stringMapCheck(volAll)),
				statecheck.ExpectKnownValue("sandbox_volume.v", tfjsonpath.New("labels"), knownvalue.Null()),
				statecheck.ExpectKnownValue("sandbox_setup.s", tfjsonpath.New("labels_all"), stringMapCheck(map[string]string{"team": "infra", "env": "dev", "tier": "base"})),
				statecheck.ExpectKnownValue("sandbox_workspace.w", tfjsonpath.New("labels_all"), stringMapCheck(map[string]string{"team": "infra", "env": "dev", "app": "ws"})),
				statecheck.ExpectKnownValue("sandbox_command.c", tfjsonpath.New("labels_all"), stringMapCheck(map[string]string{"team": "infra", "env": "dev", "job": "smoke"})),
				statecheck.ExpectKnownValue("data.sandbox_records.web", tfjsonpath.New("ids"), knownvalue.ListSizeExact(1)),
				statecheck.ExpectKnownValue("data.sandbox_records.smoke", tfjsonpath.New("ids"), knownvalue.ListSizeExact(1)),
				statecheck.ExpectKnownValue("data.sandbox_records.none", tfjsonpath.New("ids"), knownvalue.ListSizeExact(0)),
			},
			Check: resource.ComposeAggregateTestCheckFunc(
				env.recordLabels("sandbox_sandbox.box", boxAll),
				env.recordLabels("sandbox_volume.v", volAll),
				env.recordLabels("sandbox_setup.s", map[string]string{"team": "infra", "env": "dev", "tier": "base"}),
				env.recordLabels("sandbox_workspace.w", map[string]string{"team": "infra", "env": "dev", "app": "ws"}),
				env.recordLabels("sandbox_command.c", map[string]string{"team": "infra", "env": "dev", "job": "smoke"}),
				resource.TestCheckResourceAttrPair("data.sandbox_records.web", "ids.0", "sandbox_sandbox.box", "id"),
				resource.TestCheckResourceAttrPair("data.sandbox_records.smoke", "ids.0", "sandbox_command.c", "id"),
			),
		},
		{Config: labelsConfig(env, dev), PlanOnly: true},
		{
			// A change of default_labels updates every resource in place (no replacement, no new run), except the
			// sandbox, whose own env label wins over the changed default.
			Config: labelsConfig(env, stage),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("sandbox_sandbox.box", plancheck.ResourceActionNoop),
				plancheck.ExpectResourceAction("sandbox_volume.v", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("sandbox_setup.s", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("sandbox_workspace.w", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("sandbox_command.c", plancheck.ResourceActionUpdate),
				plancheck.ExpectKnownValue("sandbox_volume.v", tfjsonpath.New("labels_all"), stringMapCheck(map[string]string{"team": "infra", "env": "stage"})),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				env.recordLabels("sandbox_sandbox.box", boxAll),
				env.recordLabels("sandbox_volume.v", map[string]string{"team": "infra", "env": "stage"}),
				env.recordLabels("sandbox_command.c", map[string]string{"team": "infra", "env": "stage", "job": "smoke"}),
				env.runCount(1),
			),
		},
		{Config: labelsConfig(env, stage), PlanOnly: true},
	}
	for _, addr := range []string{"sandbox_sandbox.box", "sandbox_volume.v", "sandbox_setup.s", "sandbox_workspace.w"} {
		steps = append(steps, importSteps(addr)...)
	}
	steps = append(steps, importSteps("sandbox_command.c", commandImportIgnore...)...)
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps,
		CheckDestroy: env.checkDestroyed})
}

// TestAccLabels_validation: label keys and values are checked at plan time, on the attribute, with the rule.
func TestAccLabels_validation(t *testing.T) {
	env := newTestEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      env.providerHCL() + `resource "sandbox_sandbox" "s" { labels = { ekairos_sandbox_id = "x" } }`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)Reserved label key.*ekairos_sandbox_id`),
			},
			{
				Config:      env.providerHCL() + "resource \"sandbox_volume\" \"v\" {\n  name   = \"v\"\n  labels = { \"bad key\" = \"x\" }\n}\n",
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)labels.*must be a label key`),
			},
			{
				Config:      env.providerHCL() + `resource "sandbox_sandbox" "s" { labels = { team = "a\nb" } }`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)control characters`),
			},
			{
				Config:      env.labelsProviderHCL(`{ ekairos = "2" }`) + `resource "sandbox_sandbox" "s" {}`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)default_labels.*Reserved label key|Reserved label key.*default_labels`),
			},
			{
				Config:      env.providerHCL() + `resource "sandbox_sandbox" "s" { params = jsonencode({ labels = { a = "b" } }) }`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)labels.*reserved`),
			},
		},
	})
}

// TestAccLabels_daytona: on Daytona the sandbox itself carries labels_all beside the library's labels, and a
// change of labels updates them in place on the service.
func TestAccLabels_daytona(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	cfg := func(app string) string {
		hcl := strings.Replace(daytonaHCL(env, fake), "provider \"sandbox\" {\n", "provider \"sandbox\" {\n  default_labels = { team = \"infra\" }\n", 1)
		return hcl + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  labels = { app = %q }
}
`, app)
	}
	fakeLabels := func(want map[string]string) resource.TestCheckFunc {
		return func(s *terraform.State) error {
			ext := attrOf(s, "sandbox_sandbox.s", "external_sandbox_id")
			for _, sb := range fake.LiveSandboxes() {
				if sb.ID != ext {
					continue
				}
				if !backend.HasLabels(sb.Labels, want) || sb.Labels["ekairos"] != "1" || sb.Labels["ekairos_sandbox_id"] != attrOf(s, "sandbox_sandbox.s", "id") {
					return fmt.Errorf("the Daytona fake holds labels %v, want %v beside the library's", sb.Labels, want)
				}
				return nil
			}
			return fmt.Errorf("sandbox %s not on the fake", ext)
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{
			{Config: cfg("web"), Check: fakeLabels(map[string]string{"team": "infra", "app": "web"})},
			{
				Config: cfg("api"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					fakeLabels(map[string]string{"team": "infra", "app": "api"}),
					env.recordLabels("sandbox_sandbox.s", map[string]string{"team": "infra", "app": "api"}),
				),
			},
			{Config: cfg("api"), PlanOnly: true},
			{ResourceName: "sandbox_sandbox.s", ImportState: true, ImportStateVerify: true},
		},
	})
}
