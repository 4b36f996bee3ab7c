package provider

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccSecretsNeverLeak builds the provider binary and runs the real terraform out of process, as a user
// would, with TF_LOG=trace. The InstantDB admin token and the env values must appear in no log line and no
// record; in the state, env values may only sit in attributes marked sensitive.
func TestAccSecretsNeverLeak(t *testing.T) {
	env := newTestEnvFor(t, RecordsInstantDB)
	const sandboxSecret, commandSecret = "sbx-secret-0f9e8d7c", "cmd-secret-1a2b3c4d"
	w := newTFWorkdir(t, env.providerHCL()+fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  purpose = "secrets"
  env     = { TOKEN = %q }
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["sh", "-c", "test -n \"$TOKEN\" && test -n \"$RUN_TOKEN\" && echo both-set"]
  env        = { RUN_TOKEN = %q }
}

output "said" {
  value = sandbox_command.c.stdout
}
`, sandboxSecret, commandSecret))
	logPath := filepath.Join(t.TempDir(), "trace.log")
	trace := []string{"TF_LOG=trace", "TF_LOG_PATH=" + logPath}
	out := w.mustRun(trace, "apply", "-auto-approve", "-input=false", "-no-color")
	if !strings.Contains(out, "both-set") {
		t.Fatalf("the command did not see its env:\n%s", out)
	}
	w.mustRun(trace, "plan", "-input=false", "-no-color", "-detailed-exitcode")

	secrets := []string{testInstantToken, sandboxSecret, commandSecret}
	logs, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) < 10000 || !strings.Contains(string(logs), "sandbox") {
		t.Fatalf("the trace log is suspiciously small (%d bytes): is TF_LOG=trace in effect?", len(logs))
	}
	for _, s := range secrets {
		if strings.Contains(string(logs), s) {
			t.Errorf("secret %q appears in the TF_LOG=trace log", s)
		}
		if strings.Contains(out, s) {
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
	if strings.Contains(string(stateRaw), testInstantToken) {
		t.Error("the InstantDB admin token is in the state")
	}
	secretsOnlyInSensitiveAttributes(t, stateRaw, secrets)
	w.mustRun(nil, "destroy", "-auto-approve", "-input=false", "-no-color")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secretsOnlyInSensitiveAttributes fails t when one of secrets is in a state file's attribute other than a
// sensitive env.
func secretsOnlyInSensitiveAttributes(t *testing.T, stateRaw []byte, secrets []string) {
	t.Helper()
	var state struct {
		Resources []struct {
			Type      string `json:"type"`
			Instances []struct {
				Attributes          map[string]any    `json:"attributes"`
				SensitiveAttributes []json.RawMessage `json:"sensitive_attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(stateRaw, &state); err != nil {
		t.Fatal(err)
	}
	for _, r := range state.Resources {
		for _, inst := range r.Instances {
			sens := string(mustJSON(t, inst.SensitiveAttributes))
			for name, v := range inst.Attributes {
				b := string(mustJSON(t, v))
				for _, s := range secrets {
					if strings.Contains(b, s) && (name != "env" || !strings.Contains(sens, `"env"`)) {
						t.Errorf("secret %q in %s.%s, which is not marked sensitive", s, r.Type, name)
					}
				}
			}
		}
	}
}
