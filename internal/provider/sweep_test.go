package provider

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engines"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/sweep"
)

// Test sweepers: `go test ./internal/provider -sweep=all` (any region name: it is ignored) runs
// internal/backend/sweep on the record store and engines that the environment configures, exactly as the
// provider reads them with an empty provider block (SANDBOX_SQLITE_PATH or the other stores' variables,
// SANDBOX_LOCAL_ROOT, SANDBOX_LOCAL_ISOLATION, and each hosted engine's credentials). It removes what it finds
// and fails when it found anything: after tests that destroy what they make, a finding is a leak. Every
// creating record counts as abandoned, so run it when no apply uses the store. -sweep-run=sandbox_local
// (or sandbox_daytona, sandbox_vercel, sandbox_sprites) picks one engine.
//
// It refuses the provider's default records file and local root: point SANDBOX_SQLITE_PATH (or a
// PostgreSQL / InstantDB store) and SANDBOX_LOCAL_ROOT at the tests' own. A hosted engine without its
// credential is skipped.
func init() {
	for _, name := range availableEngines {
		resource.AddTestSweepers("sandbox_"+name, &resource.Sweeper{Name: "sandbox_" + name, F: engineSweeper(name)})
	}
}

// engineSweeper sweeps one engine (and the records of the store that name it).
func engineSweeper(name string) resource.SweeperFunc {
	return func(region string) error {
		data, err := envProviderData(context.Background())
		if err != nil {
			return err
		}
		if desc, _ := engines.Lookup(name); !desc.Configured(data.engineSettings[name]) {
			log.Printf("[INFO] sweeper sandbox_%s: not configured (no credential in the environment): skipped", name)
			return nil
		}
		if data.records == RecordsSQLite && os.Getenv(EnvSQLitePath) == "" {
			return fmt.Errorf("sweeper sandbox_%s: set %s to the acceptance tests' records file (the provider's default records are not swept by tests), or configure PostgreSQL or InstantDB records", name, EnvSQLitePath)
		}
		if name == "local" && os.Getenv(local.EnvRoot) == "" {
			return fmt.Errorf("sweeper sandbox_local: set %s to the acceptance tests' local root (the provider's default root is not swept by tests)", local.EnvRoot)
		}
		return sweep.Sweeper(func(context.Context) (backend.Store, backend.EngineMap, error) {
			eng, err := data.Engine(name)
			if errors.Is(err, local.ErrBwrapNotInstalled) {
				data.engineSettings[name]["isolation"] = local.IsolationNone // listing and deleting run no command
				eng, err = data.Engine(name)
			}
			if err != nil {
				return nil, nil, err
			}
			st, err := data.Store()
			if err != nil {
				return nil, nil, err
			}
			return st, backend.EngineMap{name: eng}, nil
		})(region)
	}
}

// envProviderData configures the provider as Terraform would with an empty provider block, so that the
// sweepers read the environment exactly as the provider does.
func envProviderData(ctx context.Context) (*providerData, error) {
	p := New("test")()
	var sr provider.SchemaResponse
	p.Schema(ctx, provider.SchemaRequest{}, &sr)
	typ, ok := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	if !ok {
		return nil, errors.New("the provider schema is not an object")
	}
	vals := map[string]tftypes.Value{}
	for k, t := range typ.AttributeTypes {
		vals[k] = tftypes.NewValue(t, nil)
	}
	var resp provider.ConfigureResponse
	p.Configure(ctx, provider.ConfigureRequest{Config: tfsdk.Config{Schema: sr.Schema, Raw: tftypes.NewValue(typ, vals)}}, &resp)
	if resp.Diagnostics.HasError() {
		return nil, fmt.Errorf("configuring the provider from the environment: %v", resp.Diagnostics.Errors())
	}
	data, ok := resp.ResourceData.(*providerData)
	if !ok {
		return nil, errors.New("the provider configured no data")
	}
	return data, nil
}

// TestSweeperLocal runs the local sweeper (then the Daytona one, on its fake) on an environment with an orphan
// sandbox: it removes it and reports it as a leak; the next run is clean. Without the environment it refuses
// to run, and a hosted engine without its credential is skipped.
func TestSweeperLocal(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvSQLitePath, "")
	t.Setenv(local.EnvRoot, "")
	t.Setenv(EnvRecords, "")
	t.Setenv(EnvPostgresURL, "")
	t.Setenv(EnvInstantToken, "")
	if err := engineSweeper("local")("all"); err == nil || !strings.Contains(err.Error(), EnvSQLitePath) {
		t.Errorf("without %s: %v", EnvSQLitePath, err)
	}
	t.Setenv(EnvSQLitePath, filepath.Join(dir, "records.db"))
	if err := engineSweeper("local")("all"); err == nil || !strings.Contains(err.Error(), local.EnvRoot) {
		t.Errorf("without %s: %v", local.EnvRoot, err)
	}
	root := filepath.Join(dir, "local")
	t.Setenv(local.EnvRoot, root)
	t.Setenv(local.EnvIsolation, local.IsolationNone)
	eng, err := local.New(local.Config{Root: root, Isolation: local.IsolationNone})
	if err != nil {
		t.Fatal(err)
	}
	orphan := backend.NewID()
	if _, err := eng.CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: orphan}); err != nil {
		t.Fatal(err)
	}
	if err := engineSweeper("local")("all"); err == nil || !strings.Contains(err.Error(), orphan) {
		t.Errorf("the sweeper did not report the orphan %s: %v", orphan, err)
	}
	if sbs, err := eng.ListSandboxes(t.Context()); err != nil || len(sbs) != 0 {
		t.Errorf("after the sweeper: %d sandboxes, %v", len(sbs), err)
	}
	if err := engineSweeper("local")("all"); err != nil {
		t.Errorf("second run: %v", err)
	}
	t.Setenv("DAYTONA_API_KEY", "")
	if err := engineSweeper("daytona")("all"); err != nil {
		t.Errorf("daytona without a credential is skipped, not an error: %v", err)
	}

	// A hosted engine configured by its environment: an orphan on the Daytona fake is removed.
	fake := startDaytonaFake(t)
	t.Setenv("DAYTONA_API_KEY", testDaytonaKey)
	t.Setenv("DAYTONA_API_URL", fake.URL())
	deng, err := daytona.Descriptor.New(map[string]string{"api_key": testDaytonaKey, "api_url": fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	orphan = backend.NewID()
	if _, err := deng.CreateSandbox(t.Context(), backend.SandboxSpec{RecordID: orphan}); err != nil {
		t.Fatal(err)
	}
	if err := engineSweeper("daytona")("all"); err == nil || !strings.Contains(err.Error(), orphan) {
		t.Errorf("the daytona sweeper did not report the orphan %s: %v", orphan, err)
	}
	if live := fake.LiveSandboxes(); len(live) != 0 {
		t.Errorf("the daytona fake still holds %v", live)
	}
}
