package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

func TestAccRecordDataSources(t *testing.T) {
	forEachStore(t, testAccRecordDataSources)
}

func testAccRecordDataSources(t *testing.T, env *testEnv) {
	cfg := env.providerHCL() + `
resource "sandbox_sandbox" "ci" {
  count   = 3
  purpose = "ci"
  params  = jsonencode({ n = count.index })
}

resource "sandbox_sandbox" "agent" {
  purpose = "agent"
}

resource "sandbox_command" "hi" {
  sandbox_id = sandbox_sandbox.agent.id
  command    = ["echo", "hi"]
}

data "sandbox_record" "agent" {
  id = sandbox_sandbox.agent.id
}

data "sandbox_record" "run" {
  id = sandbox_command.hi.id
}

data "sandbox_records" "ci" {
  purpose    = "ci"
  status     = "active"
  backend    = "local"
  depends_on = [sandbox_sandbox.ci, sandbox_sandbox.agent]
}

data "sandbox_records" "two_oldest" {
  kind       = "sandbox"
  order      = "asc"
  limit      = 2
  depends_on = [sandbox_sandbox.ci, sandbox_sandbox.agent]
}

data "sandbox_records" "runs" {
  kind       = "process"
  depends_on = [sandbox_command.hi]
}

output "agent_params_local" {
  value = jsondecode(data.sandbox_record.agent.attributes).provider
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.sandbox_record.agent", tfjsonpath.New("kind"), knownvalue.StringExact("sandbox")),
					statecheck.ExpectKnownValue("data.sandbox_record.agent", tfjsonpath.New("entity"), knownvalue.StringExact("sandbox_sandboxes")),
					statecheck.ExpectKnownValue("data.sandbox_record.agent", tfjsonpath.New("status"), knownvalue.StringExact("active")),
					statecheck.ExpectKnownValue("data.sandbox_record.agent", tfjsonpath.New("purpose"), knownvalue.StringExact("agent")),
					statecheck.ExpectKnownValue("data.sandbox_record.run", tfjsonpath.New("kind"), knownvalue.StringExact("process")),
					statecheck.ExpectKnownValue("data.sandbox_record.run", tfjsonpath.New("status"), knownvalue.StringExact("exited")),
					statecheck.ExpectKnownValue("data.sandbox_records.ci", tfjsonpath.New("ids"), knownvalue.ListSizeExact(3)),
					statecheck.ExpectKnownValue("data.sandbox_records.two_oldest", tfjsonpath.New("ids"), knownvalue.ListSizeExact(2)),
					statecheck.ExpectKnownValue("data.sandbox_records.runs", tfjsonpath.New("ids"), knownvalue.ListSizeExact(1)),
					statecheck.ExpectKnownOutputValue("agent_params_local", knownvalue.StringExact("local")),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttrPair("data.sandbox_record.agent", "external_id", "sandbox_sandbox.agent", "external_sandbox_id"),
					resource.TestCheckResourceAttrPair("data.sandbox_records.runs", "ids.0", "sandbox_command.hi", "id"),
					resource.TestCheckResourceAttr("data.sandbox_records.ci", "records.0.purpose", "ci"),
				),
			},
		},
	})
}

func TestAccRecordDataSources_errors(t *testing.T) {
	env := newTestEnv(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      env.providerHCL() + `data "sandbox_record" "x" { id = "nope" }`,
				ExpectError: regexp.MustCompile(`(?s)not a record id`),
			},
			{
				Config:      env.providerHCL() + `data "sandbox_record" "x" { id = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f" }`,
				ExpectError: regexp.MustCompile(`(?s)No record 6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f`),
			},
			{
				Config: env.providerHCL() + `data "sandbox_records" "x" {
  kind    = "volume"
  purpose = "ci"
}
`,
				ExpectError: regexp.MustCompile(`(?s)Only sandbox records have a purpose`),
			},
			{
				Config:      env.providerHCL() + `data "sandbox_records" "x" { limit = 0 }`,
				ExpectError: regexp.MustCompile(`(?s)limit.*between 1 and 1000`),
			},
		},
	})
}
