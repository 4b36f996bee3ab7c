package provider

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/querycheck"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// TestListResourcesServed: the provider serves a list resource for sandboxes, workspaces, volumes and setups,
// each beside a resource with identity (the framework refuses a list resource without one).
func TestListResourcesServed(t *testing.T) {
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("%s: %s: %s", d.Severity, d.Summary, d.Detail)
	}
	for _, name := range []string{"sandbox_sandbox", "sandbox_workspace", "sandbox_volume", "sandbox_setup"} {
		s := resp.ListResourceSchemas[name]
		if s == nil {
			t.Errorf("no list resource %s", name)
			continue
		}
		have := map[string]bool{}
		for _, a := range s.Block.Attributes {
			have[a.Name] = true
		}
		for _, want := range []string{"backend", "status", "labels", "created_after", "created_before", "scope"} {
			if !have[want] {
				t.Errorf("list %s has no filter %s", name, want)
			}
		}
		if have["purpose"] != (name == "sandbox_sandbox") {
			t.Errorf("list %s: purpose filter %v", name, have["purpose"])
		}
	}
	ids, err := srv.GetResourceIdentitySchemas(context.Background(), &tfprotov6.GetResourceIdentitySchemasRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids.IdentitySchemas) != 5 {
		t.Errorf("%d identity schemas, want 5 (every resource)", len(ids.IdentitySchemas))
	}
}

// appLifecycle makes objects and records as an application using @ekairos/sandbox does: through the
// record-first lifecycle on the test's store and local root, with no Terraform scope.
func (e *testEnv) appLifecycle() *backend.Lifecycle {
	return &backend.Lifecycle{Store: e.store(), Engines: backend.EngineMap{"local": e.engine()}}
}

// appRecord rewrites a record as an application leaves it: no params.terraform (the provider's bookkeeping),
// with the given labels (params.labels) when not nil.
func (e *testEnv) appRecord(entity, id string, labels map[string]any) {
	e.t.Helper()
	ctx := context.Background()
	rec, err := e.store().Get(ctx, entity, id)
	if err != nil {
		e.t.Fatal(err)
	}
	params := map[string]any{}
	for k, v := range rec.JSONMap("params") {
		if k != backend.ParamsTerraform {
			params[k] = v
		}
	}
	if labels != nil {
		params["labels"] = labels
	}
	if _, err := e.store().Update(ctx, entity, id, backend.Attrs{"params": params}); err != nil {
		e.t.Fatal(err)
	}
}

// appSandbox makes an application's sandbox on the local engine and returns its record id.
func (e *testEnv) appSandbox(purpose string, labels map[string]any) string {
	e.t.Helper()
	res, err := e.appLifecycle().CreateSandbox(context.Background(), backend.SandboxRequest{
		Backend: "local", Spec: backend.SandboxSpec{Purpose: purpose, Timeout: 10 * time.Minute}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.appRecord(backend.EntitySandboxes, res.ID(), labels)
	e.t.Cleanup(func() { _ = e.appLifecycle().DeleteSandbox(context.Background(), res.ID()) })
	return res.ID()
}

func idCheck(id string) map[string]knownvalue.Check {
	return map[string]knownvalue.Check{"id": knownvalue.StringExact(id)}
}

// TestAccList_filters (Terraform 1.14): `terraform query` lists an application's sandboxes by purpose, labels,
// engine and creation time, each with its identity; records of another configuration are left out unless
// scope = "*"; shutdown records never come.
func TestAccList_filters(t *testing.T) {
	env := newTestEnv(t)
	agentA := env.appSandbox("agent", map[string]any{"team": "a"})
	agentB := env.appSandbox("agent", map[string]any{"team": "b"})
	ci := env.appSandbox("ci", nil)
	gone := env.appSandbox("agent", map[string]any{"team": "a"})
	if err := env.appLifecycle().DeleteSandbox(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	// A sandbox another configuration made (scope "other"): its own.
	other := &backend.Lifecycle{Store: env.store(), Engines: backend.EngineMap{"local": env.engine()}, Scope: "other#default"}
	res, err := other.CreateSandbox(context.Background(), backend.SandboxRequest{Backend: "local", Spec: backend.SandboxSpec{Purpose: "agent"}})
	if err != nil {
		t.Fatal(err)
	}
	others := res.ID()
	vol, _, err := env.appLifecycle().CreateVolume(context.Background(), backend.VolumeRequest{Backend: "local", Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	env.appRecord(backend.EntityVolumes, vol.ID, map[string]any{"team": "a"})
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_14_0)},
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: env.providerHCL()},
			{
				Query: true,
				// The query file goes beside the previous step's configuration, which configures the provider.
				Config: `
list "sandbox_sandbox" "agents" {
  provider = sandbox
  config {
    purpose = "agent"
  }
}

list "sandbox_sandbox" "team_a" {
  provider = sandbox
  config {
    labels = { team = "a" }
  }
}

list "sandbox_sandbox" "everyone" {
  provider = sandbox
  config {
    scope = "*"
  }
}

list "sandbox_sandbox" "future" {
  provider = sandbox
  config {
    created_after = "` + future + `"
  }
}

list "sandbox_sandbox" "local" {
  provider = sandbox
  config {
    backend = "local"
    status  = "active"
  }
}

list "sandbox_volume" "team_a" {
  provider = sandbox
  config {
    labels = { team = "a" }
  }
}
`,
				QueryResultChecks: []querycheck.QueryResultCheck{
					querycheck.ExpectLength("sandbox_sandbox.agents", 2),
					querycheck.ExpectIdentity("sandbox_sandbox.agents", idCheck(agentA)),
					querycheck.ExpectIdentity("sandbox_sandbox.agents", idCheck(agentB)),
					querycheck.ExpectLength("sandbox_sandbox.team_a", 1),
					querycheck.ExpectIdentity("sandbox_sandbox.team_a", idCheck(agentA)),
					querycheck.ExpectLength("sandbox_sandbox.everyone", 4),
					querycheck.ExpectIdentity("sandbox_sandbox.everyone", idCheck(others)),
					querycheck.ExpectIdentity("sandbox_sandbox.everyone", idCheck(ci)),
					querycheck.ExpectLength("sandbox_sandbox.future", 0),
					querycheck.ExpectLength("sandbox_sandbox.local", 3),
					querycheck.ExpectLength("sandbox_volume.team_a", 1),
					querycheck.ExpectIdentity("sandbox_volume.team_a", idCheck(vol.ID)),
				},
			},
		},
	})
}

// TestAccList_badFilter: a filter that can never be valid fails at plan time on its attribute, saying what
// would be.
func TestAccList_badFilter(t *testing.T) {
	env := newTestEnv(t)
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_14_0)},
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: env.providerHCL()},
			{
				Query: true,
				// The query file goes beside the previous step's configuration, which configures the provider.
				Config: `
list "sandbox_sandbox" "bad" {
  provider = sandbox
  config {
    created_after = "yesterday"
  }
}
`,
				ExpectError: regexp.MustCompile(`not\s+a\s+time\s+in\s+RFC\s+3339`),
			},
			{
				Query: true,
				// The query file goes beside the previous step's configuration, which configures the provider.
				Config: `
list "sandbox_sandbox" "bad" {
  provider = sandbox
  config {
    status = "shutdown"
  }
}
`,
				ExpectError: regexp.MustCompile(`status`),
			},
		},
	})
}

// requireTerraform skips an out-of-process test when TF_ACC_TERRAFORM_PATH is older than min.
func requireTerraform(t *testing.T, min string) {
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
	if versionLess(v.Version, min) {
		t.Skipf("terraform %s: this test needs %s or newer", v.Version, min)
	}
}

// resolved is a directory with its symlinks resolved, as the provider's default scope has it.
func resolved(t *testing.T, dir string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// versionLess compares the numeric parts of two versions (1.11.4 < 1.14.0; 1.14.9-dev counts as 1.14.9).
func versionLess(a, b string) bool {
	num := regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)`)
	pa, pb := num.FindStringSubmatch(a), num.FindStringSubmatch(b)
	if pa == nil || pb == nil {
		return true
	}
	for i := 1; i <= 3; i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return false
}

// TestAccQuery_adoptAppSandboxes is the guide "Adopt sandboxes an application made", run with the real
// terraform 1.14 out of process: an application made a setup, a volume, sandboxes (one from the setup, with the
// volume) and a workspace through the record store; `terraform query -generate-config-out` writes their
// configuration and import blocks (by identity); the plan imports every one and changes nothing; after the
// apply a plan is empty, no record was added, and the records were not taken from the application (no scope).
func TestAccQuery_adoptAppSandboxes(t *testing.T) {
	requireTerraform(t, "1.14.0")
	env := newTestEnv(t)
	ctx := context.Background()
	app := env.appLifecycle()
	setup, _, _, _, err := app.CreateSetup(ctx, backend.SetupRequest{Backend: "local", Argv: []string{"sh", "-c", "echo hi > base.txt"}})
	if err != nil {
		t.Fatal(err)
	}
	env.appRecord(backend.EntitySetups, setup.ID, nil)
	vol, _, err := app.CreateVolume(ctx, backend.VolumeRequest{Backend: "local", Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	env.appRecord(backend.EntityVolumes, vol.ID, nil)
	res, err := app.CreateSandbox(ctx, backend.SandboxRequest{Backend: "local", SetupID: setup.ID, Params: map[string]any{"session": "s-1"},
		Spec: backend.SandboxSpec{Purpose: "agent", Timeout: 90 * time.Second, Ports: []int{3000},
			Volumes: []backend.VolumeMount{{VolumeID: vol.ID, MountPath: "/data"}}}})
	if err != nil {
		t.Fatal(err)
	}
	env.appRecord(backend.EntitySandboxes, res.ID(), nil)
	t.Cleanup(func() { _ = app.DeleteSandbox(context.Background(), res.ID()) })
	plain := env.appSandbox("agent", nil)
	ws, _, err := app.CreateWorkspace(ctx, backend.WorkspaceRequest{Backend: "local", Name: "notes", SetupID: setup.ID})
	if err != nil {
		t.Fatal(err)
	}
	env.appRecord(backend.EntityWorkspaces, ws.ID, nil)
	before := env.countRecords(t)

	w := newTFWorkdir(t, env.providerHCL())
	query := `
list "sandbox_sandbox" "agents" {
  provider = sandbox
  config {
    purpose = "agent"
  }
}

list "sandbox_setup" "all" {
  provider = sandbox
}

list "sandbox_volume" "all" {
  provider = sandbox
}

list "sandbox_workspace" "all" {
  provider = sandbox
}
`
	if err := os.WriteFile(filepath.Join(w.dir, "adopt.tfquery.hcl"), []byte(query), 0o600); err != nil {
		t.Fatal(err)
	}
	out := w.mustRun(nil, "query", "-generate-config-out=generated.tf")
	for _, id := range []string{setup.ID, vol.ID, res.ID(), plain, ws.ID} {
		if !strings.Contains(out, id) {
			t.Errorf("terraform query did not list %s:\n%s", id, out)
		}
	}
	gen, err := os.ReadFile(filepath.Join(w.dir, "generated.tf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated.tf:\n%s", gen)
	if n := strings.Count(string(gen), "import {"); n != 5 {
		t.Fatalf("%d import blocks generated, want 5", n)
	}

	w.mustRun(nil, "plan", "-out=adopt.tfplan", "-input=false")
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions   []string        `json:"actions"`
				Importing json.RawMessage `json:"importing"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(w.mustRun(nil, "show", "-json", "adopt.tfplan")), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.ResourceChanges) != 5 {
		t.Fatalf("%d resource changes, want 5\n%s", len(plan.ResourceChanges), w.mustRun(nil, "show", "adopt.tfplan"))
	}
	for _, rc := range plan.ResourceChanges {
		if len(rc.Change.Actions) != 1 || rc.Change.Actions[0] != "no-op" || len(rc.Change.Importing) == 0 {
			t.Errorf("%s: actions %v importing %s, want a no-op import\n%s", rc.Address, rc.Change.Actions, rc.Change.Importing,
				w.mustRun(nil, "show", "adopt.tfplan"))
		}
	}
	w.mustRun(nil, "apply", "-auto-approve", "-input=false", "adopt.tfplan")
	if out, err := w.run(nil, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Fatalf("plan after adopting is not empty: %v\n%s", err, out)
	}
	if after := env.countRecords(t); after != before {
		t.Errorf("%d records after adopting, %d before", after, before)
	}
	// The identity is kept in state.
	var st struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address  string         `json:"address"`
					Values   map[string]any `json:"values"`
					Identity map[string]any `json:"identity"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(w.mustRun(nil, "show", "-json")), &st); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.Values.RootModule.Resources {
		if r.Identity["id"] != r.Values["id"] {
			t.Errorf("%s: identity %v, id %v", r.Address, r.Identity, r.Values["id"])
		}
	}
	// As the guide says, the literal ids become references (so that destroy knows the order); nothing changes.
	ref := regexp.MustCompile(`(volume_id\s*=\s*)"`+vol.ID+`"`).ReplaceAllString(string(gen), "${1}sandbox_volume.all_0.id")
	ref = regexp.MustCompile(`(setup_id\s*=\s*)"`+setup.ID+`"`).ReplaceAllString(ref, "${1}sandbox_setup.all_0.id")
	if err := os.WriteFile(filepath.Join(w.dir, "generated.tf"), []byte(ref), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := w.run(nil, "plan", "-detailed-exitcode", "-input=false"); err != nil {
		t.Fatalf("plan with references is not empty: %v\n%s", err, out)
	}
	// The adopted records are this configuration's now (the refreshes after the import claimed them).
	scope := backend.ScopeOf(resolved(t, w.dir), "default")
	for entity, id := range map[string]string{backend.EntitySandboxes: res.ID(), backend.EntityVolumes: vol.ID,
		backend.EntitySetups: setup.ID, backend.EntityWorkspaces: ws.ID} {
		rec, err := env.store().Get(ctx, entity, id)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := bookkeepingOf(rec)[backend.BookScope].(string); got != scope {
			t.Errorf("%s %s: scope %q after adopting, want %q", entity, id, got, scope)
		}
	}
	// The adopted sandbox works as the configuration's own: destroy shuts it down.
	w.mustRun(nil, "destroy", "-auto-approve", "-input=false")
	rec, err := env.record(res.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.String("status") != backend.StatusShutdown {
		t.Errorf("adopted sandbox %s is %s after destroy", res.ID(), rec.String("status"))
	}
}
