package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/vercel/vercelfake"
)

// TestAccVercel_secretsNeverLeak runs the provider binary out of process under the real terraform with
// TF_LOG=trace, as a user would, with backend = "vercel" on the fake. The token comes from VERCEL_TOKEN; a
// GitHub credential is given write-only to the policy of a sandbox and of a setup. The credential must reach
// the API on the wire as a header transform, and appear in no log line, no terraform output, no state and no
// record; env values may sit in the state only in sensitive attributes. The second plan is empty (the API never
// returns the injected values, which must not make a perpetual diff), and destroy leaves nothing on the fake.
func TestAccVercel_secretsNeverLeak(t *testing.T) {
	env := newTestEnv(t)
	const (
		apiToken  = "vercel-api-token-3b9f0c2a"
		ghToken   = "ghp_vercelOutOfProcess0d4c"
		envSecret = "sbx-env-secret-6e5d"
		runSecret = "cmd-env-secret-8a7b"
	)
	fake := startVercelFakeWith(t, vercelfake.Config{Token: apiToken})
	c := fake.Config()
	w := newTFWorkdir(t, fmt.Sprintf(`
provider "sandbox" {
  sqlite_path = %q
  vercel {
    team_id    = %q
    project_id = %q
    api_url    = %q
  }
}

resource "sandbox_setup" "tools" {
  backend = "vercel"
  command = ["sh", "-c", "echo tools > tools.txt"]
  policy {
    mode                   = "allow_list"
    presets                = ["github"]
    credentials_wo         = { github = %q }
    credentials_wo_version = 1
  }
}

resource "sandbox_sandbox" "s" {
  backend  = "vercel"
  setup_id = sandbox_setup.tools.id
  env      = { TOKEN = %q }
  policy {
    mode                   = "allow_list"
    presets                = ["github"]
    hosts                  = ["registry.npmjs.org"]
    credentials_wo         = { github = %q }
    credentials_wo_version = 1
  }
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "test -n \"$TOKEN\" && test -n \"$RUN_TOKEN\" && cat tools.txt && echo both-set"]
  env        = { RUN_TOKEN = %q }
}

output "said" {
  value = sandbox_command.c.stdout
}
`, env.dbPath, c.TeamID, c.ProjectID, fake.URL(), ghToken, envSecret, ghToken, runSecret))
	logPath := filepath.Join(t.TempDir(), "trace.log")
	run := []string{"TF_LOG=trace", "TF_LOG_PATH=" + logPath, "VERCEL_TOKEN=" + apiToken,
		"VERCEL_OIDC_TOKEN=", "VERCEL_TEAM_ID=", "VERCEL_PROJECT_ID="}
	out := w.mustRun(run, "apply", "-auto-approve", "-input=false", "-no-color")
	if !strings.Contains(out, "both-set") || !strings.Contains(out, "tools") {
		t.Fatalf("the command did not see its env or the setup's files:\n%s", out)
	}
	plan, err := w.run(run, "plan", "-input=false", "-no-color", "-detailed-exitcode")
	if err != nil {
		t.Errorf("the second plan is not empty (write-only credentials must not make a perpetual diff): %v\n%s", err, plan)
	}

	// On the wire: the sandbox's and the setup builder's policies carry the credential as a header transform.
	sawSandbox, sawSetup := false, false
	for _, p := range fake.NetworkPolicies("") {
		if !strings.Contains(string(p.Body), "Bearer "+ghToken) {
			continue
		}
		switch {
		case strings.HasPrefix(p.Sandbox, "sbx-"):
			sawSandbox = true
		case strings.HasPrefix(p.Sandbox, "setup-"):
			sawSetup = true
		}
	}
	if !sawSandbox || !sawSetup {
		t.Errorf("the credential did not reach the API on the wire (sandbox %v, setup builder %v): %v", sawSandbox, sawSetup, fake.NetworkPolicies(""))
	}

	secrets := []string{apiToken, ghToken, envSecret, runSecret}
	logs, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) < 10000 || !strings.Contains(string(logs), "vercel") {
		t.Fatalf("the trace log is suspiciously small (%d bytes): is TF_LOG=trace in effect?", len(logs))
	}
	for _, s := range secrets {
		if strings.Contains(string(logs), s) {
			t.Errorf("secret %q appears in the TF_LOG=trace log", s)
		}
		if strings.Contains(out+plan, s) {
			t.Errorf("secret %q appears in terraform's output", s)
		}
	}
	if err := env.noSecretsInStore(secrets...); err != nil {
		t.Error(err)
	}
	stateRaw, err := os.ReadFile(filepath.Join(w.dir, "terraform.tfstate"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{apiToken, ghToken} {
		if strings.Contains(string(stateRaw), s) {
			t.Errorf("secret %q is in the state", s)
		}
	}
	secretsOnlyInSensitiveAttributes(t, stateRaw, secrets)

	w.mustRun(run, "destroy", "-auto-approve", "-input=false", "-no-color")
	if err := vercelDestroyed(env, fake)(nil); err != nil {
		t.Error(err)
	}
}
