package provider

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	builtOnce sync.Once
	builtDir  string
	builtErr  error
)

// tfWorkdir is a Terraform working directory that runs the real terraform out of process against the provider
// binary built from this tree (dev_overrides in a CLI config of its own), as a user would.
type tfWorkdir struct {
	t   *testing.T
	dir string
	cli string
}

func newTFWorkdir(t *testing.T, config string) *tfWorkdir {
	t.Helper()
	if os.Getenv("TF_ACC") == "" {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	builtOnce.Do(func() {
		// One binary for every test of the package: t.TempDir would remove it when the first test ends.
		builtDir, builtErr = os.MkdirTemp("", "provider-bin") //nolint:usetesting // shared across tests, removed in TestMain
		if builtErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(builtDir, "terraform-provider-sandbox"), "../..").CombinedOutput()
		if err != nil {
			builtErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	dir := t.TempDir()
	cli := filepath.Join(dir, "terraformrc")
	rc := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"registry.terraform.io/ekairos/sandbox\" = %q\n  }\n  direct {}\n}\n", builtDir)
	if err := os.WriteFile(cli, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(work, 0o700); err != nil {
		t.Fatal(err)
	}
	full := "terraform {\n  required_providers {\n    sandbox = { source = \"ekairos/sandbox\" }\n  }\n}\n" + config
	if err := os.WriteFile(filepath.Join(work, "main.tf"), []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tfWorkdir{t: t, dir: work, cli: cli}
}

// run runs terraform with the given extra environment and returns its combined output and error.
func (w *tfWorkdir) run(extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command(os.Getenv("TF_ACC_TERRAFORM_PATH"), args...)
	cmd.Dir = w.dir
	cmd.Env = append(append(os.Environ(), "TF_CLI_CONFIG_FILE="+w.cli, "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1"), extraEnv...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustRun runs terraform and fails the test on error.
func (w *tfWorkdir) mustRun(extraEnv []string, args ...string) string {
	w.t.Helper()
	out, err := w.run(extraEnv, args...)
	if err != nil {
		w.t.Fatalf("terraform %v: %v\n%s", args, err, out)
	}
	return out
}
