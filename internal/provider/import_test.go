package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/sprites/spritesfake"
)

// importSteps imports a resource twice: with `terraform import` and ImportStateVerify (ignoring only what the
// resource's docs list as not coming back), and with an `import {}` block by record id, whose plan must be a
// no-op (the testing framework fails an import-block step whose plan has any change).
func importSteps(addr string, ignore ...string) []resource.TestStep {
	return []resource.TestStep{
		{ResourceName: addr, ImportState: true, ImportStateVerify: true, ImportStateVerifyIgnore: ignore},
		{ResourceName: addr, ImportState: true, ImportStateKind: resource.ImportBlockWithID,
			ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(addr, plancheck.ResourceActionNoop)}}},
	}
}

// commandImportIgnore is what a sandbox_command's docs say does not come back on import: its output, kept in
// state only (never in records, which apps read).
var commandImportIgnore = []string{"stdout", "stderr", "truncated"}

// importEverythingConfig sets every optional argument and block of every resource type on the local engine,
// with durations spelled as a user would (90s, not 1m30s).
func importEverythingConfig(env *testEnv) string {
	return env.providerHCL() + `
resource "sandbox_setup" "base" {
  command = ["sh", "-c", "mkdir sub && echo from-setup > base.txt"]
  runtime = "node24"
  timeout = "90s"
  policy {
    mode                   = "allow_list"
    hosts                  = ["example.com"]
    presets                = ["npm"]
    credentials_wo_version = 3
  }
  timeouts {
    create = "20m"
    delete = "7m"
  }
}

resource "sandbox_volume" "data" {
  name   = "data"
  labels = {}
  timeouts {
    create = "4m"
  }
}

resource "sandbox_sandbox" "box" {
  runtime       = "node24"
  timeout       = "90s"
  vcpus         = 2
  ports         = [3000]
  purpose       = "ci"
  params        = jsonencode({ team = "infra" })
  labels        = { owner = "import-test" }
  desired_state = "running"
  setup_id      = sandbox_setup.base.id
  local {
    max_processes = 512
    memory_mb     = 2048
  }
  volume {
    volume_id  = sandbox_volume.data.id
    mount_path = "/data"
  }
  policy {
    mode                   = "allow_list"
    hosts                  = ["example.com"]
    credentials_wo_version = 2
  }
  timeouts {
    create = "15m"
    update = "12m"
  }
}

resource "sandbox_workspace" "ws" {
  name          = "ws"
  setup_id      = sandbox_setup.base.id
  exposed_ports = [3000]
  timeout       = "150s"
  policy {
    mode  = "allow_list"
    hosts = ["example.org"]
  }
  timeouts {
    update = "9m"
  }
}

resource "sandbox_command" "run" {
  sandbox_id       = sandbox_sandbox.box.id
  command          = ["sh", "-c", "cat ../base.txt; basename $(pwd)"]
  cwd              = "sub"
  timeout          = "45s"
  env_wo_version   = 4
  triggers         = { rev = "r1" }
  allow_failure    = true
  output_limit_kib = 8
  destroy_command  = ["true"]
  timeouts {
    create = "3m"
  }
}

resource "sandbox_command" "in_ws" {
  workspace_id = sandbox_workspace.ws.id
  command      = ["cat", "base.txt"]
}
`
}

// TestAccImport_everyResourceLocal: every resource type, with every optional block set, imports into a fresh
// state with everything but the documented exceptions, and an import {} block plans nothing.
func TestAccImport_everyResourceLocal(t *testing.T) {
	forEachStore(t, testAccImportEveryResourceLocal)
}

func testAccImportEveryResourceLocal(t *testing.T, env *testEnv) {
	cfg := importEverythingConfig(env)
	steps := []resource.TestStep{
		{
			Config: cfg,
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("sandbox_command.run", "stdout", "from-setup\nsub\n"),
				resource.TestCheckResourceAttr("sandbox_command.in_ws", "stdout", "from-setup\n"),
			),
		},
		{Config: cfg, PlanOnly: true},
	}
	for _, addr := range []string{"sandbox_setup.base", "sandbox_volume.data", "sandbox_sandbox.box", "sandbox_workspace.ws"} {
		steps = append(steps, importSteps(addr)...)
	}
	steps = append(steps, importSteps("sandbox_command.run", commandImportIgnore...)...)
	steps = append(steps, importSteps("sandbox_command.in_ws", commandImportIgnore...)...)
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}

// TestAccImport_wholeStackByImportBlocks is the walk, run with the real terraform out of process: a
// setup shared by several sandboxes, a volume, a workspace, commands, local {} and policy blocks; apply; then a
// fresh state (a new working directory on the same store) with an import {} block for every resource by record
// id: the plan imports everything and changes nothing (no replace, no create), and after the import apply a
// plan is empty and no record was added.
func TestAccImport_wholeStackByImportBlocks(t *testing.T) {
	env := newTestEnv(t)
	cfg := importEverythingConfig(env) + `
resource "sandbox_sandbox" "fleet" {
  count    = 3
  setup_id = sandbox_setup.base.id
  timeout  = "2m30s"
  local {
    max_processes = 256
  }
  policy {
    mode = "allow_all"
  }
}

resource "sandbox_command" "fleet_hello" {
  count      = 3
  sandbox_id = sandbox_sandbox.fleet[count.index].id
  command    = ["cat", "base.txt"]
  timeout    = "60s"
}
`
	first := newTFWorkdir(t, cfg)
	first.mustRun(nil, "apply", "-auto-approve", "-input=false")
	var st struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string         `json:"address"`
					Values  map[string]any `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(first.mustRun(nil, "show", "-json")), &st); err != nil {
		t.Fatal(err)
	}
	var imports strings.Builder
	for _, r := range st.Values.RootModule.Resources {
		fmt.Fprintf(&imports, "\nimport {\n  to = %s\n  id = %q\n}\n", r.Address, r.Values["id"])
	}
	if n := len(st.Values.RootModule.Resources); n != 12 {
		t.Fatalf("%d resources in state, want 12", n)
	}
	before := env.countRecords(t)

	second := newTFWorkdir(t, cfg+imports.String())
	second.mustRun(nil, "plan", "-out=import.tfplan", "-input=false")
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions   []string        `json:"actions"`
				Importing json.RawMessage `json:"importing"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(second.mustRun(nil, "show", "-json", "import.tfplan")), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.ResourceChanges) != 12 {
		t.Fatalf("%d resource changes in the import plan, want 12", len(plan.ResourceChanges))
	}
	for _, rc := range plan.ResourceChanges {
		if len(rc.Change.Actions) != 1 || rc.Change.Actions[0] != "no-op" || len(rc.Change.Importing) == 0 {
			t.Errorf("%s: actions %v importing %s, want a no-op import\n%s", rc.Address, rc.Change.Actions, rc.Change.Importing,
				second.mustRun(nil, "show", "import.tfplan"))
		}
	}
	second.mustRun(nil, "apply", "-auto-approve", "-input=false", "import.tfplan")
	if out, err := second.run(nil, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Fatalf("plan after the import is not empty: %v\n%s", err, out)
	}
	if after := env.countRecords(t); after != before {
		t.Errorf("%d records after the import, %d before: the import made records", after, before)
	}
	second.mustRun(nil, "destroy", "-auto-approve", "-input=false")
	recs, err := env.store().Query(context.Background(), backend.Query{Entity: backend.EntitySandboxes})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.String("status") != backend.StatusShutdown {
			t.Errorf("sandbox record %s is %s after destroy from the imported state", r.ID, r.String("status"))
		}
	}
}

// countRecords counts every record of every entity in the test's store.
func (e *testEnv) countRecords(t *testing.T) int {
	t.Helper()
	n := 0
	for _, ent := range []string{backend.EntitySandboxes, backend.EntitySetups, backend.EntityWorkspaces, backend.EntityVolumes, backend.EntityProcesses} {
		recs, err := e.store().Query(context.Background(), backend.Query{Entity: ent})
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
	}
	return n
}

// hostedImportTest applies cfg on a hosted engine's fake and imports every listed resource, as on local.
func hostedImportTest(t *testing.T, cfg string, addrs []string, commands []string) {
	steps := []resource.TestStep{{Config: cfg}, {Config: cfg, PlanOnly: true}}
	for _, addr := range addrs {
		steps = append(steps, importSteps(addr)...)
	}
	for _, addr := range commands {
		steps = append(steps, importSteps(addr, commandImportIgnore...)...)
	}
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}

// hostedCommands are the commands of the hosted import tests: one with every optional argument set, one in
// the workspace.
const hostedCommands = `
resource "sandbox_command" "run" {
  sandbox_id       = sandbox_sandbox.box.id
  command          = ["sh", "-c", "echo ran"]
  timeout          = "45s"
  env_wo_version   = 4
  triggers         = { rev = "r1" }
  allow_failure    = true
  output_limit_kib = 8
  destroy_command  = ["true"]
  timeouts {
    create = "3m"
  }
}

resource "sandbox_command" "in_ws" {
  workspace_id = sandbox_workspace.ws.id
  command      = ["sh", "-c", "echo in-ws"]
}
`

func TestAccImport_everyResourceDaytona(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	cfg := daytonaHCL(env, fake) + `
resource "sandbox_setup" "base" {
  command = ["sh", "-c", "echo tools > tools.txt"]
  timeout = "90s"
  policy {
    mode = "allow_all"
  }
  timeouts {
    create = "20m"
  }
}

resource "sandbox_volume" "data" {
  name   = "data"
  labels = {}
  timeouts {
    delete = "4m"
  }
}

resource "sandbox_sandbox" "box" {
  timeout  = "90s"
  purpose  = "ci"
  ports    = [3000]
  setup_id = sandbox_setup.base.id
  daytona {
    labels                = { team = "infra" }
    public                = true
    auto_stop_interval    = 30
    auto_archive_interval = 60
    auto_delete_interval  = -1
  }
  volume {
    volume_id  = sandbox_volume.data.id
    mount_path = "/home/daytona/data"
  }
  policy {
    mode = "allow_all"
  }
  timeouts {
    create = "15m"
  }
}

resource "sandbox_workspace" "ws" {
  name     = "ws"
  setup_id = sandbox_setup.base.id
  timeout  = "150s"
  policy {
    mode = "allow_all"
  }
  timeouts {
    update = "9m"
  }
}
` + hostedCommands
	hostedImportTest(t, cfg, []string{"sandbox_setup.base", "sandbox_volume.data", "sandbox_sandbox.box", "sandbox_workspace.ws"},
		[]string{"sandbox_command.run", "sandbox_command.in_ws"})
}

func TestAccImport_everyResourceVercel(t *testing.T) {
	env := newTestEnv(t)
	fake := startVercelFake(t)
	cfg := vercelHCL(env, fake) + `
resource "sandbox_setup" "base" {
  backend = "vercel"
  command = ["sh", "-c", "echo tools > tools.txt"]
  runtime = "node22"
  timeout = "90s"
  vercel {
    expiration = "never"
    vcpus      = 2
  }
  policy {
    mode = "allow_all"
  }
  timeouts {
    create = "20m"
  }
}

resource "sandbox_sandbox" "box" {
  backend  = "vercel"
  runtime  = "node22"
  timeout  = "10m"
  ports    = [3000]
  purpose  = "ci"
  setup_id = sandbox_setup.base.id
  vercel {
    persistent = true
  }
  policy {
    mode                   = "allow_list"
    presets                = ["github"]
    credentials_wo_version = 1
  }
  timeouts {
    create = "15m"
  }
}

resource "sandbox_workspace" "ws" {
  backend  = "vercel"
  name     = "ws"
  setup_id = sandbox_setup.base.id
  timeout  = "150s"
  policy {
    mode = "allow_all"
  }
}
` + hostedCommands
	hostedImportTest(t, cfg, []string{"sandbox_setup.base", "sandbox_sandbox.box", "sandbox_workspace.ws"},
		[]string{"sandbox_command.run", "sandbox_command.in_ws"})
}

func TestAccImport_everyResourceSprites(t *testing.T) {
	env := newTestEnv(t)
	fake := spritesfake.Start(t, spritesfake.Options{})
	cfg := spritesHCL(env, fake) + `
resource "sandbox_setup" "base" {
  backend = "sprites"
  command = ["sh", "-c", "echo tools > tools.txt"]
  timeout = "90s"
  policy {
    mode = "allow_all"
  }
  timeouts {
    create = "20m"
  }
}

resource "sandbox_sandbox" "box" {
  backend  = "sprites"
  timeout  = "90s"
  purpose  = "agent"
  setup_id = sandbox_setup.base.id
  sprites {
    url_auth          = "sprite"
    wait_for_capacity = true
    labels            = { team = "infra" }
  }
  policy {
    mode  = "allow_list"
    hosts = ["example.com"]
  }
  timeouts {
    create = "15m"
  }
}

resource "sandbox_workspace" "ws" {
  backend  = "sprites"
  name     = "ws"
  setup_id = sandbox_setup.base.id
  timeout  = "150s"
  policy {
    mode = "allow_all"
  }
}
` + hostedCommands
	hostedImportTest(t, cfg, []string{"sandbox_setup.base", "sandbox_sandbox.box", "sandbox_workspace.ws"},
		[]string{"sandbox_command.run", "sandbox_command.in_ws"})
}

// TestAccImport_idOfAnotherKind: importing a setup's id as a sandbox (and a sandbox's as a command) names the
// entity that holds it and the resource type to import it as.
func TestAccImport_idOfAnotherKind(t *testing.T) {
	env := newTestEnv(t)
	cfg := env.providerHCL() + `
resource "sandbox_setup" "base" {
  command = ["true"]
}

resource "sandbox_sandbox" "box" {
  setup_id = sandbox_setup.base.id
}
`
	idOf := func(addr string) resource.ImportStateIdFunc {
		return func(s *terraform.State) (string, error) { return s.RootModule().Resources[addr].Primary.ID, nil }
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: cfg},
			{
				ResourceName: "sandbox_sandbox.box", ImportState: true, ImportStateIdFunc: idOf("sandbox_setup.base"),
				ExpectError: regexp.MustCompile(`(?s)No\s+record\s+.*\s+in\s+sandbox_sandboxes\s+of\s+the\s+sqlite\s+store.*record\s+of\s+sandbox_setups:\s+import\s+it\s+as\s+a\s+sandbox_setup,\s+not\s+a\s+sandbox_sandbox`),
			},
			{
				ResourceName: "sandbox_setup.base", ImportState: true, ImportStateIdFunc: idOf("sandbox_sandbox.box"),
				ExpectError: regexp.MustCompile(`(?s)record\s+of\s+sandbox_sandboxes:\s+import\s+it\s+as\s+a\s+sandbox_sandbox,\s+not\s+a\s+sandbox_setup`),
			},
		},
	})
}

// TestAccCommand_missingSandboxFailsAtPlan: a sandbox_id that names no sandbox record fails the plan on the
// attribute with what it is (here a setup's id); one that names no record at all too. Nothing runs.
func TestAccCommand_missingSandboxFailsAtPlan(t *testing.T) {
	env := newTestEnv(t)
	base := env.providerHCL() + `
resource "sandbox_setup" "base" {
  command = ["true"]
}
`
	cmd := func(id string) string {
		return base + fmt.Sprintf(`
resource "sandbox_command" "c" {
  sandbox_id = %s
  command    = ["true"]
}
`, id)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: base},
			{
				Config:      cmd(`"6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)No\s+such\s+sandbox.*sandbox_id\s+=\s+"6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"\s+names\s+no\s+record\s+in\s+sandbox_sandboxes\s+of\s+the\s+sqlite\s+store`),
			},
			{
				Config:      cmd(`sandbox_setup.base.id`),
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`(?s)No\s+such\s+sandbox.*record\s+of\s+sandbox_setups\s+\(a\s+sandbox_setup\)`),
			},
			{
				Config: base,
				Check: func(*terraform.State) error {
					if n := len(env.processRecords(t)); n != 0 {
						return fmt.Errorf("%d run records after refused plans", n)
					}
					return nil
				},
			},
		},
	})
}

// TestAccImport_envComesBackInPlace: env values are never recorded, so after an import the configuration's env
// shows as an in-place update (it stores the values; nothing runs again), never a replacement: for a setup and
// a command (whose env otherwise replaces) and for a sandbox.
func TestAccImport_envComesBackInPlace(t *testing.T) {
	env := newTestEnv(t)
	cfg := env.providerHCL() + `
resource "sandbox_setup" "base" {
  command = ["sh", "-c", "echo $TOOL > tool.txt"]
  env     = { TOOL = "s3cr3t-setup" }
}

resource "sandbox_sandbox" "box" {
  setup_id = sandbox_setup.base.id
  env      = { WHO = "s3cr3t-box" }
}

resource "sandbox_command" "run" {
  sandbox_id = sandbox_sandbox.box.id
  command    = ["sh", "-c", "echo $RUN"]
  env        = { RUN = "s3cr3t-run" }
}
`
	steps := []resource.TestStep{{Config: cfg}}
	for _, addr := range []string{"sandbox_setup.base", "sandbox_sandbox.box", "sandbox_command.run"} {
		steps = append(steps, resource.TestStep{
			ResourceName: addr, ImportState: true, ImportStateKind: resource.ImportBlockWithID, ExpectNonEmptyPlan: true,
			ImportPlanChecks: resource.ImportPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
			}},
		})
	}
	steps = append(steps, resource.TestStep{
		Config: cfg,
		Check: func(*terraform.State) error {
			if n := len(env.processRecords(t)); n != 1 {
				return fmt.Errorf("%d runs, want 1: the command ran again", n)
			}
			return env.noSecretsInStore("s3cr3t-setup", "s3cr3t-box", "s3cr3t-run")
		},
	})
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}

// TestAccImport_afterInPlaceChanges: in-place changes (a setup's and a volume's timeouts, a sandbox's and a
// workspace's timeout and policy, a command's allow_failure, output_limit_kib and destroy_command) reach the
// record, so that an import after them gives back the configuration as it now is.
func TestAccImport_afterInPlaceChanges(t *testing.T) {
	env := newTestEnv(t)
	cfg := func(v int) string {
		return env.providerHCL() + fmt.Sprintf(`
resource "sandbox_setup" "base" {
  command = ["true"]
  timeouts {
    create = "%[1]dm"
  }
}

resource "sandbox_volume" "data" {
  name   = "data"
  labels = {}
  timeouts {
    delete = "%[1]dm"
  }
}

resource "sandbox_sandbox" "box" {
  setup_id = sandbox_setup.base.id
  timeout  = "%[1]d0s"
  policy {
    mode                   = "allow_list"
    hosts                  = ["h%[1]d.example.com"]
    credentials_wo_version = %[1]d
  }
}

resource "sandbox_workspace" "ws" {
  name    = "ws"
  timeout = "%[1]d5s"
  policy {
    mode  = "allow_list"
    hosts = ["w%[1]d.example.com"]
  }
}

resource "sandbox_command" "run" {
  sandbox_id       = sandbox_sandbox.box.id
  command          = ["true"]
  allow_failure    = %[2]t
  output_limit_kib = %[1]d
  destroy_command  = ["echo", "%[1]d"]
}
`, v, v%2 == 0)
	}
	steps := []resource.TestStep{
		{Config: cfg(1)},
		{
			Config: cfg(2),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("sandbox_setup.base", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("sandbox_volume.data", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("sandbox_sandbox.box", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("sandbox_workspace.ws", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("sandbox_command.run", plancheck.ResourceActionUpdate),
			}},
		},
	}
	for _, addr := range []string{"sandbox_setup.base", "sandbox_volume.data", "sandbox_sandbox.box", "sandbox_workspace.ws"} {
		steps = append(steps, importSteps(addr)...)
	}
	steps = append(steps, importSteps("sandbox_command.run", commandImportIgnore...)...)
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}
