package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// actionRuns returns the sandbox_processes records of sandbox_run invocations in a sandbox, oldest first.
func (e *testEnv) actionRuns(t *testing.T, sandboxID string) []*backend.Record {
	t.Helper()
	recs, err := e.store().Query(context.Background(), backend.Query{Entity: backend.EntityProcesses,
		Where: []backend.Cond{{Field: "sandboxId", Op: backend.OpEq, Value: sandboxID}}, OrderBy: "startedAt"})
	if err != nil {
		t.Fatal(err)
	}
	var out []*backend.Record
	for _, r := range recs {
		if book, _ := r.JSONMap("metadata")[backend.MetadataTerraform].(map[string]any); book["action"] == runActionName {
			out = append(out, r)
		}
	}
	return out
}

// TestAccRunAction_lifecycleTrigger: a sandbox_run in a sandbox's action_trigger runs after the create and after
// an update, each time as a record of its own in sandbox_processes (labels merged with default_labels, the env
// write-only: in no record and no state), and never as a resource in state. A failing command fails the apply
// with its exit code and stderr.
func TestAccRunAction_lifecycleTrigger(t *testing.T) {
	env := newTestEnv(t)
	cfg := func(purpose, cmd string) string {
		return env.labelsProviderHCL(`{ team = "infra" }`) + fmt.Sprintf(`
action "sandbox_run" "smoke" {
  config {
    sandbox_id = sandbox_sandbox.box.id
    command    = ["sh", "-c", %q]
    env        = { SECRET_TOKEN = "run-secret-value" }
    labels     = { job = "smoke" }
    timeout    = "2m"
  }
}

resource "sandbox_sandbox" "box" {
  purpose = %q
  lifecycle {
    action_trigger {
      events  = [after_create, after_update]
      actions = [action.sandbox_run.smoke]
    }
  }
}
`, cmd, purpose)
	}
	ok := `printf %s "$SECRET_TOKEN" | wc -c | grep -qx 16; echo hi >> runs.txt; wc -l < runs.txt`
	var boxID string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_14_0)},
		CheckDestroy:             env.checkDestroyed,
		Steps: []resource.TestStep{
			{
				Config: cfg("one", ok),
				Check: func(s *terraform.State) error {
					boxID = attrOf(s, "sandbox_sandbox.box", "id")
					for addr := range s.RootModule().Resources {
						if strings.Contains(addr, "sandbox_run") {
							return fmt.Errorf("the action is in the state as %s", addr)
						}
					}
					runs := env.actionRuns(t, boxID)
					if len(runs) != 1 {
						return fmt.Errorf("%d sandbox_run records after the create, want 1", len(runs))
					}
					r := runs[0]
					if r.String("status") != backend.ProcessExited || r.String("command") != "sh" {
						return fmt.Errorf("run record: %v", r.Attrs)
					}
					if l := backend.LabelsOf(r); l["job"] != "smoke" || l["team"] != "infra" {
						return fmt.Errorf("run labels: %v", l)
					}
					return env.noSecretsInStore("run-secret-value")
				},
			},
			{
				Config: cfg("two", ok),
				Check: func(s *terraform.State) error {
					runs := env.actionRuns(t, boxID)
					if len(runs) != 2 || runs[0].ID == runs[1].ID {
						return fmt.Errorf("%d sandbox_run records after the update, want 2 of their own", len(runs))
					}
					return nil
				},
			},
			{Config: cfg("two", ok), PlanOnly: true},
			{
				Config:      cfg("three", `echo out-$((40+2)); echo "it broke" >&2; exit 7`),
				ExpectError: regexp.MustCompile(`(?s)exited with code 7.*it broke`),
			},
		},
	})
	runs := env.actionRuns(t, boxID)
	if len(runs) != 3 {
		t.Fatalf("%d sandbox_run records, want 3", len(runs))
	}
	if last := runs[2]; last.String("status") != backend.ProcessFailed {
		t.Fatalf("the failed run's record is %s", last.String("status"))
	}
	for _, r := range runs {
		b, _ := json.Marshal(r.Attrs)
		if strings.Contains(string(b), "out-42") || strings.Contains(string(b), "run-secret-value") {
			t.Fatalf("output or env in a run record: %s", b)
		}
	}
}

// terraformAtLeast skips the test unless TF_ACC_TERRAFORM_PATH is at least min (out-of-process tests have no
// TerraformVersionChecks).
func terraformAtLeast(t *testing.T, minimum *version.Version) {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	out, err := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), "version", "-json").Output()
	if err != nil {
		t.Fatalf("terraform version: %v", err)
	}
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	have, err := version.NewVersion(v.Version)
	if err != nil {
		t.Fatal(err)
	}
	if have.Core().LessThan(minimum) {
		t.Skipf("terraform %s is older than %s", have, minimum)
	}
}

// TestAccRunAction_invokeOutOfProcess: `terraform apply -invoke=action.sandbox_run.smoke` with the real
// terraform and the provider binary runs the command once per invocation, shows its output as progress, writes
// a sandbox_processes record and changes nothing in the state; a failing command fails the invocation with its
// exit code and the end of its stderr.
func TestAccRunAction_invokeOutOfProcess(t *testing.T) {
	terraformAtLeast(t, tfversion.Version1_14_0)
	env := newTestEnv(t)
	cfg := env.providerHCL() + `
variable "cmd" {
  type    = string
  default = "printf %s \"$TOKEN\" | wc -c | grep -qx 16; echo hello-from-action; echo warn-line >&2"
}

variable "token" {
  type      = string
  sensitive = true
  default   = "none"
}

resource "sandbox_sandbox" "box" {
  purpose = "ci"
}

action "sandbox_run" "smoke" {
  config {
    sandbox_id = sandbox_sandbox.box.id
    command    = ["sh", "-c", var.cmd]
    env        = { TOKEN = var.token }
    labels     = { job = "invoke" }
  }
}
`
	w := newTFWorkdir(t, cfg)
	w.mustRun(nil, "apply", "-auto-approve", "-input=false")
	stateBefore, err := os.ReadFile(w.dir + "/terraform.tfstate")
	if err != nil {
		t.Fatal(err)
	}
	boxID := strings.TrimSpace(w.mustRun(nil, "state", "show", "-no-color", "sandbox_sandbox.box"))
	if m := regexp.MustCompile(`\bid\s+=\s+"([0-9a-f-]{36})"`).FindStringSubmatch(boxID); m != nil {
		boxID = m[1]
	} else {
		t.Fatalf("no id in: %s", boxID)
	}
	if n := len(env.actionRuns(t, boxID)); n != 0 {
		t.Fatalf("%d sandbox_run records before any invocation", n)
	}
	// The env comes from a sensitive variable: in no output, log, record or state.
	secret := "s3cr3t-run-token"
	tokenEnv := "TF_VAR_token=" + secret
	if shown := w.mustRun([]string{tokenEnv}, "plan", "-input=false", "-no-color", "-invoke=action.sandbox_run.smoke"); strings.Contains(shown, secret) {
		t.Fatalf("the plan shows the env value:\n%s", shown)
	}
	if n := len(env.actionRuns(t, boxID)); n != 0 {
		t.Fatalf("a plan of the invocation ran it (%d records)", n)
	}
	out := w.mustRun([]string{tokenEnv, "TF_LOG=trace", "TF_LOG_PATH=" + w.dir + "/tf.log"}, "apply", "-auto-approve", "-input=false", "-no-color",
		"-invoke=action.sandbox_run.smoke")
	if strings.Contains(out, secret) {
		t.Errorf("the invocation's output shows the env value:\n%s", out)
	}
	if log, err := os.ReadFile(w.dir + "/tf.log"); err != nil || strings.Contains(string(log), secret) {
		var lines []string
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, secret) {
				lines = append(lines, l[:min(len(l), 400)])
			}
		}
		t.Errorf("the env value is in the trace log (%v):\n%s", err, strings.Join(lines, "\n"))
	}
	if err := env.noSecretsInStore(secret); err != nil {
		t.Error(err)
	}
	if !strings.Contains(out, "hello-from-action") || !strings.Contains(out, "stderr: warn-line") {
		t.Errorf("the invocation did not show the command's output as progress:\n%s", out)
	}
	runs := env.actionRuns(t, boxID)
	if len(runs) != 1 || runs[0].String("status") != backend.ProcessExited || backend.LabelsOf(runs[0])["job"] != "invoke" {
		t.Fatalf("sandbox_run records after one invocation: %d %v", len(runs), runs)
	}
	if !strings.Contains(out, runs[0].ID) {
		t.Errorf("the invocation's output does not name the run record %s:\n%s", runs[0].ID, out)
	}
	stateAfter, err := os.ReadFile(w.dir + "/terraform.tfstate")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stateAfter), secret) {
		t.Error("the env value is in the state")
	}
	var before, after struct {
		Resources []struct {
			Type string `json:"type"`
			Name string `json:"name"`
		} `json:"resources"`
	}
	_ = json.Unmarshal(stateBefore, &before)
	_ = json.Unmarshal(stateAfter, &after)
	if len(after.Resources) != len(before.Resources) || len(after.Resources) != 1 {
		t.Errorf("the invocation changed the state's resources: %v -> %v", before.Resources, after.Resources)
	}
	if out, err := w.run(nil, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Errorf("plan after the invocation is not empty: %v\n%s", err, out)
	}

	out, err = w.run(nil, "apply", "-auto-approve", "-input=false", "-no-color", "-invoke=action.sandbox_run.smoke",
		"-var", "cmd=echo about-to-fail; echo disk full >&2; exit 3", "-var", "token=x")
	if err == nil {
		t.Fatalf("a failing command did not fail the invocation:\n%s", out)
	}
	if !regexp.MustCompile(`(?s)exited with code 3.*disk full`).MatchString(out) {
		t.Errorf("the failure does not show the exit code and stderr:\n%s", out)
	}
	runs = env.actionRuns(t, boxID)
	if len(runs) != 2 || runs[1].String("status") != backend.ProcessFailed {
		t.Fatalf("after a failing invocation: %d records", len(runs))
	}
	if code, _ := runs[1].Int("exitCode"); code != 3 {
		t.Errorf("the failed run's record has exitCode %d", code)
	}
	w.mustRun(nil, "destroy", "-auto-approve", "-input=false")
}

// TestAccRunAction_missingTargetFailsAtPlan: a sandbox_id that names no record fails the plan on the attribute,
// before anything runs (as sandbox_command's does).
func TestAccRunAction_missingTargetFailsAtPlan(t *testing.T) {
	env := newTestEnv(t)
	cfg := env.providerHCL() + `
resource "sandbox_volume" "v" {
  name = "makes-the-store"
}

action "sandbox_run" "bad" {
  config {
    sandbox_id = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"
    command    = ["true"]
  }
}

resource "terraform_data" "t" {
  lifecycle {
    action_trigger {
      events  = [after_create]
      actions = [action.sandbox_run.bad]
    }
  }
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_14_0)},
		Steps: []resource.TestStep{
			{Config: env.providerHCL() + "resource \"sandbox_volume\" \"v\" {\n  name = \"makes-the-store\"\n}\n"},
			{Config: cfg, PlanOnly: true, ExpectError: regexp.MustCompile(`(?s)No such sandbox.*6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f.*names no\s+record`)},
		},
	})
}
