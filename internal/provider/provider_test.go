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
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/instantdb/instantdbfake"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/postgres/pgtest"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/store/sqlite"
)

// testProviderFactories serve the provider in-process to the real terraform binary.
var testProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"sandbox": providerserver.NewProtocol6WithError(New("test")()),
}

// TestMain makes acceptance tests independent of the machine's Terraform CLI configuration and finds the
// terraform binary on this machine (tests never download one). It goes through resource.TestMain, so that
// `go test ./internal/provider -sweep=all` runs the sweepers of sweep_test.go instead of the tests; without
// -sweep, acceptanceRun.Run runs the tests exactly as before.
func TestMain(m *testing.M) {
	resource.TestMain(acceptanceRun{m})
}

// acceptanceRun is m.Run with the acceptance tests' setup and teardown around it.
type acceptanceRun struct{ m *testing.M }

func (a acceptanceRun) Run() int {
	if os.Getenv("TF_ACC") == "" {
		return a.m.Run()
	}
	dir, err := os.MkdirTemp("", "tfcli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	cli := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(cli, []byte("# empty: acceptance tests use no CLI configuration\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = os.Setenv("TF_CLI_CONFIG_FILE", cli)
	_ = os.Setenv("CHECKPOINT_DISABLE", "1")
	if os.Getenv("TF_ACC_TERRAFORM_PATH") == "" {
		tf, err := exec.LookPath("terraform")
		if err != nil {
			fmt.Fprintln(os.Stderr, "TF_ACC=1 needs the terraform binary: install Terraform >= 1.11 or set TF_ACC_TERRAFORM_PATH")
			return 1
		}
		_ = os.Setenv("TF_ACC_TERRAFORM_PATH", tf)
	}
	code := a.m.Run()
	if err := pgtest.StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// testEnv is one acceptance test's private record store and local engine root.
type testEnv struct {
	t       *testing.T
	kind    string // RecordsSQLite, RecordsInstantDB or RecordsPostgres
	dir     string
	dbPath  string
	root    string
	instant *instantdbfake.Server
	pgDSN   string
	opened  backend.Store
}

const (
	testInstantAppID = "5d3c7f0e-2b1a-4c9d-8e7f-6a5b4c3d2e1f"
	testInstantToken = "9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d" // a fake admin token (real ones are UUIDs)
)

func newTestEnv(t *testing.T) *testEnv { return newTestEnvFor(t, RecordsSQLite) }

// newTestEnvFor makes a test environment on the given record store: a SQLite file, an InstantDB fake server
// or a fresh database on the test binary's PostgreSQL server (skipped when PostgreSQL is not installed).
func newTestEnvFor(t *testing.T, kind string) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{t: t, kind: kind, dir: dir, dbPath: filepath.Join(dir, "records.db"), root: filepath.Join(dir, "local")}
	switch kind {
	case RecordsInstantDB:
		e.instant = instantdbfake.New(testInstantAppID, testInstantToken)
		t.Cleanup(e.instant.Close)
	case RecordsPostgres:
		e.pgDSN = pgtest.Start(t)
	}
	return e
}

// forEachStore runs f once per record store, as subtests.
func forEachStore(t *testing.T, f func(t *testing.T, env *testEnv)) {
	for _, kind := range []string{RecordsSQLite, RecordsInstantDB, RecordsPostgres} {
		t.Run(kind, func(t *testing.T) { f(t, newTestEnvFor(t, kind)) })
	}
}

// providerHCL is the provider block pointing at this test's store and root.
func (e *testEnv) providerHCL() string {
	storeHCL := fmt.Sprintf("  sqlite_path = %q\n", e.dbPath)
	switch e.kind {
	case RecordsInstantDB:
		storeHCL = fmt.Sprintf("  records = \"instantdb\"\n  instantdb {\n    app_id      = %q\n    admin_token = %q\n    api_url     = %q\n  }\n",
			testInstantAppID, testInstantToken, e.instant.URL())
	case RecordsPostgres:
		storeHCL = fmt.Sprintf("  records = \"postgres\"\n  postgres {\n    url = %q\n  }\n", e.pgDSN)
	}
	return fmt.Sprintf(`
provider "sandbox" {
%s  local {
    root = %q
  }
}
`, storeHCL, e.root)
}

// store opens (once) the test's record store as the provider sees it.
func (e *testEnv) store() backend.Store {
	e.t.Helper()
	if e.opened != nil {
		return e.opened
	}
	var (
		st  backend.Store
		err error
	)
	switch e.kind {
	case RecordsInstantDB:
		st, err = instantdb.New(instantdb.Config{AppID: testInstantAppID, AdminToken: testInstantToken, APIURL: e.instant.URL()})
	case RecordsPostgres:
		st, err = postgres.Open(context.Background(), postgres.Config{URL: e.pgDSN})
	default:
		st, err = sqlite.Open(e.dbPath)
	}
	if err != nil {
		e.t.Fatalf("opening the test store: %v", err)
	}
	e.opened = st
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
