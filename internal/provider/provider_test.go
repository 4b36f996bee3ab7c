package provider

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
)

// testProviderFactories serve the provider in-process to the real terraform binary.
var testProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"sandbox": providerserver.NewProtocol6WithError(New("test")()),
}

// TestMain makes acceptance tests independent of the machine's Terraform CLI configuration and finds the
// terraform binary on this machine (tests never download one).
func TestMain(m *testing.M) {
	if os.Getenv("TF_ACC") != "" {
		dir, err := os.MkdirTemp("", "tfcli")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cli := filepath.Join(dir, "terraformrc")
		if err := os.WriteFile(cli, []byte("# empty: acceptance tests use no CLI configuration\n"), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = os.Setenv("TF_CLI_CONFIG_FILE", cli)
		_ = os.Setenv("CHECKPOINT_DISABLE", "1")
		if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
			tf, err := exec.LookPath("terraform")
			if err != nil {
				fmt.Fprintln(os.Stderr, "TF_ACC=1 needs the terraform binary: install Terraform >= 1.11 or set TF_ACC_TERRAFORM_PATH")
				os.Exit(1)
			}
			_ = os.Setenv("TF_ACC_TERRAFORM_PATH", tf)
		}
		code := m.Run()
		_ = os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// testEnv is one acceptance test's private record store and local engine root.
type testEnv struct {
	t      *testing.T
	dir    string
	dbPath string
	root   string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	return &testEnv{t: t, dir: dir, dbPath: filepath.Join(dir, "records.db"), root: filepath.Join(dir, "local")}
}

// providerHCL is the provider block pointing at this test's store and root.
func (e *testEnv) providerHCL() string {
	return fmt.Sprintf(`
provider "sandbox" {
  sqlite_path = %q
  local {
    root = %q
  }
}
`, e.dbPath, e.root)
}

func (e *testEnv) store() backend.Store {
	e.t.Helper()
	st, err := sqlite.Open(e.dbPath)
	if err != nil {
		e.t.Fatalf("opening the test store: %v", err)
	}
	e.t.Cleanup(func() { _ = st.Close() })
	return st
}

func (e *testEnv) engine() backend.Engine {
	e.t.Helper()
	eng, err := local.New(local.Config{Root: e.root})
	if err != nil {
		e.t.Fatalf("local engine: %v", err)
	}
	return eng
}

func (e *testEnv) record(id string) (*backend.Record, error) {
	return e.store().Get(context.Background(), backend.EntitySandboxes, id)
}
