package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/daytona/daytonafake"
	"github.com/ekairos/terraform-provider-sandbox/internal/testfakes/harness"
)

// daytonaNothingLeft is a CheckDestroy that lists what is left on the fake, as someone listing the service after
// terraform destroy would: no sandbox, no volume, no setup snapshot; and every sandbox record is shutdown.
func daytonaNothingLeft(env *testEnv, fake *daytonafake.Server) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		if live := fake.LiveSandboxes(); len(live) > 0 {
			return fmt.Errorf("%d sandboxes left on the fake after destroy: %+v", len(live), live)
		}
		if live := fake.LiveVolumes(); len(live) > 0 {
			return fmt.Errorf("volumes left on the fake after destroy: %v", live)
		}
		for _, name := range fake.Snapshots() {
			if strings.HasPrefix(name, "ekairos-setup-") {
				return fmt.Errorf("setup snapshot %s left on the fake after destroy", name)
			}
		}
		for _, ent := range []string{backend.EntitySandboxes, backend.EntityVolumes, backend.EntitySetups, backend.EntityWorkspaces} {
			recs, err := env.store().Query(context.Background(), backend.Query{Entity: ent})
			if err != nil {
				return err
			}
			for _, r := range recs {
				if st := r.String("status"); st != backend.StatusShutdown && (ent != backend.EntityWorkspaces || st != backend.WorkspaceArchived) {
					return fmt.Errorf("%s record %s is %q after destroy, want shutdown", ent, r.ID, st)
				}
			}
		}
		return nil
	}
}

// daytonaLive checks that the fake holds exactly n sandboxes that are not destroyed.
func daytonaLive(fake *daytonafake.Server, n int) resource.TestCheckFunc {
	return func(*terraform.State) error {
		if live := fake.LiveSandboxes(); len(live) != n {
			return fmt.Errorf("%d sandboxes on the fake, want %d: %+v", len(live), n, live)
		}
		return nil
	}
}

// oneSandbox is the simplest Daytona sandbox configuration, with extra lines in its daytona block.
func oneDaytonaSandbox(env *testEnv, fake *daytonafake.Server, extra string) string {
	return daytonaHCL(env, fake) + fmt.Sprintf(`
resource "sandbox_sandbox" "s" {
  purpose = "faults"
%s
}
`, extra)
}

// A create that fails after the Daytona sandbox exists (here: the preview URL of its port cannot be read) leaves
// the record in error and the resource tainted; the next apply removes that sandbox (found by its label, since
// the record never learnt its id) and makes one new sandbox: never two.
func TestAccDaytona_createFailsAfterSandboxExists(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	cfg := oneDaytonaSandbox(env, fake, "  ports = [3000]")
	fake.Faults().Add(harness.Fault{Route: "GET /sandbox/{id}/ports/{port}/preview-url", Status: http.StatusForbidden,
		Body: `{"statusCode":403,"error":"Forbidden","message":"Forbidden resource"}`})
	var first daytonafake.SandboxInfo
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{
			{Config: cfg, ExpectError: regexp.MustCompile(`HTTP\s+403[\s\S]*Forbidden\s+resource`)},
			{
				PreConfig: func() {
					live := fake.LiveSandboxes()
					if len(live) != 1 || live[0].State != "started" {
						t.Fatalf("after the failed create the fake holds %+v; want the one sandbox, started", live)
					}
					first = live[0]
					rec, err := env.record(first.Labels[daytona.LabelRecordID])
					if err != nil {
						t.Fatalf("the sandbox's label names no record: %v", err)
					}
					if rec.String("status") != backend.StatusError {
						t.Fatalf("record status %q after the failed create, want error", rec.String("status"))
					}
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					daytonaLive(fake, 1),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "status", backend.StatusActive),
					resource.TestMatchResourceAttr("sandbox_sandbox.s", "urls.3000", regexp.MustCompile(`^https://3000-`)),
					func(s *terraform.State) error {
						if ext := attrOf(s, "sandbox_sandbox.s", "external_sandbox_id"); ext == first.ID {
							return fmt.Errorf("the tainted sandbox %s was kept", ext)
						}
						if st := fake.SandboxState(first.ID); st != "" && st != "destroyed" {
							return fmt.Errorf("the first sandbox is %q, want destroyed", st)
						}
						return nil
					},
				),
			},
			{Config: cfg, PlanOnly: true},
		},
	})
}

// 429 answers are retried after Retry-After-{throttler}, and the apply succeeds with one sandbox.
func TestAccDaytona_rateLimitedCreateSucceeds(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	fake.Faults().Add(harness.Fault{Route: "POST /sandbox", Status: http.StatusTooManyRequests, RetryAfter: "1", Times: 2})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{{
			Config: oneDaytonaSandbox(env, fake, ""),
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
				daytonaLive(fake, 1),
				func(*terraform.State) error {
					if n := fake.Count("POST /sandbox"); n != 3 {
						return fmt.Errorf("POST /sandbox sent %d times, want 3 (429, 429, success)", n)
					}
					return nil
				},
			),
		}},
	})
}

// 500 until the retries run out: a clear error (attempts, status, the service's message) in bounded time, no
// sandbox made, the resource tainted; the next apply converges.
func TestAccDaytona_serverErrorsGiveUpInBoundedTime(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	cfg := oneDaytonaSandbox(env, fake, "")
	attempts := daytona.DefaultMaxRetries + 1
	var start time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{
			{
				PreConfig: func() {
					fake.Faults().Add(harness.Fault{Route: "POST /sandbox", Status: http.StatusInternalServerError, Times: attempts})
					start = time.Now()
				},
				Config: cfg,
				ExpectError: regexp.MustCompile(fmt.Sprintf(`HTTP\s+500[\s\S]*An\s+unexpected\s+error\s+occurred[\s\S]*gave\s+up\s+after\s+%d\s+attempts`,
					attempts)),
			},
			{
				PreConfig: func() {
					// Backoff 500ms x2 per retry, capped at 10s, jittered down to half: at most ~16s of waiting.
					if took := time.Since(start); took > 45*time.Second {
						t.Errorf("giving up took %s", took)
					}
					if n := fake.Count("POST /sandbox"); n != attempts {
						t.Errorf("POST /sandbox sent %d times, want %d", n, attempts)
					}
					if live := fake.LiveSandboxes(); len(live) != 0 {
						t.Errorf("sandboxes on the fake after 500s only: %+v", live)
					}
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(daytonaLive(fake, 1),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "status", backend.StatusActive)),
			},
		},
	})
}

// A rejected key: the error has the status and names DAYTONA_API_KEY; with the right key the next apply
// converges.
func TestAccDaytona_unauthorizedNamesTheKey(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	wrong := "dtn_wrong_key_9876543210"
	badCfg := strings.Replace(oneDaytonaSandbox(env, fake, ""), testDaytonaKey, wrong, 1)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{
			{Config: badCfg, ExpectError: regexp.MustCompile(`HTTP\s+401[\s\S]*DAYTONA_API_KEY`)},
			{
				PreConfig: func() {
					if n := fake.Count("POST /sandbox"); n != 1 {
						t.Errorf("a 401 was sent %d times, want once (never retried)", n)
					}
					if err := env.noSecretsInStore(wrong); err != nil {
						t.Error(err)
					}
				},
				Config: oneDaytonaSandbox(env, fake, ""),
				Check:  daytonaLive(fake, 1),
			},
		},
	})
}

// stuckConfig is a sandbox the fake holds in "starting" (it carries the label the hold matches) with a short
// create timeout.
func stuckConfig(env *testEnv, fake *daytonafake.Server) string {
	return oneDaytonaSandbox(env, fake, `  daytona {
    labels = { fault = "stuck" }
  }
  timeouts {
    create = "3s"
  }`)
}

func holdStuck(fake *daytonafake.Server) {
	fake.SetHold(func(l map[string]string) bool { return l["fault"] == "stuck" })
}

var stuckError = regexp.MustCompile(`did\s+not\s+start[\s\S]*last\s+seen:\s+starting[\s\S]*deadline\s+exceeded`)

// stuckAndTainted checks, before the next step, that the sandbox stuck past the create timeout is on the fake,
// labelled with its record (so it is not orphaned), and lets it start.
func stuckAndTainted(t *testing.T, env *testEnv, fake *daytonafake.Server, stuck *daytonafake.SandboxInfo) func() {
	return func() {
		live := fake.LiveSandboxes()
		if len(live) != 1 || live[0].State != "starting" {
			t.Fatalf("after the create timeout the fake holds %+v; want one sandbox, starting", live)
		}
		*stuck = live[0]
		rec, err := env.record(stuck.Labels[daytona.LabelRecordID])
		if err != nil || rec.String("status") != backend.StatusError {
			t.Fatalf("record of the stuck sandbox: %v, %v; want it in error", rec, err)
		}
		fake.Release()
	}
}

// A sandbox stuck in "starting" past the create timeout: the apply fails at the deadline, the resource is
// tainted, and the next apply removes the stuck sandbox and makes one new one.
func TestAccDaytona_stuckStartingNextApplyReplaces(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	holdStuck(fake)
	var stuck daytonafake.SandboxInfo
	var start time.Time
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{
			{PreConfig: func() { start = time.Now() }, Config: stuckConfig(env, fake), ExpectError: stuckError},
			{
				PreConfig: func() {
					if took := time.Since(start); took > 30*time.Second {
						t.Errorf("the apply with a 3s create timeout took %s", took)
					}
					stuckAndTainted(t, env, fake, &stuck)()
				},
				Config: stuckConfig(env, fake),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					daytonaLive(fake, 1),
					resource.TestCheckResourceAttr("sandbox_sandbox.s", "state", "running"),
					func(s *terraform.State) error {
						if attrOf(s, "sandbox_sandbox.s", "external_sandbox_id") == stuck.ID {
							return errors.New("the stuck sandbox was kept instead of replaced")
						}
						return nil
					},
				),
			},
		},
	})
}

// The same stuck sandbox, removed by destroy instead: the fake lists nothing afterwards.
func TestAccDaytona_stuckStartingRemovedByDestroy(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	holdStuck(fake)
	var stuck daytonafake.SandboxInfo
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{
			{Config: stuckConfig(env, fake), ExpectError: stuckError},
			{
				PreConfig: stuckAndTainted(t, env, fake, &stuck),
				Config:    daytonaHCL(env, fake),
				Check:     daytonaLive(fake, 0),
			},
		},
	})
}

// A setup's snapshot deleted behind Terraform's back is noticed on refresh and built again; the sandbox that
// starts from it is replaced and finds the setup's files.
func TestAccDaytona_setupSnapshotDeletedIsRebuilt(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	cfg := daytonaHCL(env, fake) + `
resource "sandbox_setup" "tools" {
  command = ["sh", "-c", "echo tools > tools.txt"]
}

resource "sandbox_sandbox" "s" {
  setup_id = sandbox_setup.tools.id
}

resource "sandbox_command" "c" {
  sandbox_id = sandbox_sandbox.s.id
  command    = ["cat", "tools.txt"]
}
`
	var snap string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "tools\n"),
					func(s *terraform.State) error {
						snap = attrOf(s, "sandbox_setup.tools", "snapshot_id")
						if snap == "" {
							return errors.New("no snapshot_id")
						}
						return nil
					},
				),
			},
			{
				PreConfig: func() {
					if !fake.DeleteSnapshotOutOfBand(snap) {
						t.Fatalf("snapshot %s is not on the fake (%v)", snap, fake.Snapshots())
					}
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					// Rebuilt in place under the same record id: the sandbox made from it stays.
					plancheck.ExpectResourceAction("sandbox_setup.tools", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("sandbox_sandbox.s", plancheck.ResourceActionNoop),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_command.c", "stdout", "tools\n"),
					resource.TestCheckResourceAttr("sandbox_setup.tools", "reused", "false"),
					daytonaLive(fake, 1),
					func(s *terraform.State) error {
						if n := fake.SnapshotBuilds(); n != 2 {
							return fmt.Errorf("%d snapshot builds, want 2 (the first and the rebuild)", n)
						}
						if !fake.HasSnapshot(attrOf(s, "sandbox_setup.tools", "snapshot_id")) {
							return fmt.Errorf("the rebuilt snapshot is not on the fake: %v", fake.Snapshots())
						}
						return nil
					},
				),
			},
			{Config: cfg, PlanOnly: true},
		},
	})
}

// A volume another sandbox still mounts cannot be destroyed (Daytona's 409, in the error); a volume in state
// "deleted" reads as gone and is made again.
func TestAccDaytona_volumeInUseAndDeleted(t *testing.T) {
	env := newTestEnv(t)
	fake := startDaytonaFake(t)
	eng, err := daytona.New(daytona.Config{APIKey: testDaytonaKey, APIURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := daytonaHCL(env, fake) + `
resource "sandbox_volume" "v" {
  name = "cache"
}
`
	var volExt string
	var intruder *backend.Sandbox
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy:             daytonaNothingLeft(env, fake),
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("sandbox_volume.v", "state", "ready"),
					func(s *terraform.State) error {
						volExt = attrOf(s, "sandbox_volume.v", "external_volume_id")
						if fake.VolumeState(volExt) != "ready" {
							return fmt.Errorf("volume %s is %q on the fake", volExt, fake.VolumeState(volExt))
						}
						return nil
					},
				),
			},
			{
				// A sandbox made outside Terraform mounts the volume: destroying the volume fails with the API's 409.
				PreConfig: func() {
					intruder, err = eng.CreateSandbox(ctx, backend.SandboxSpec{RecordID: backend.NewID(),
						Volumes: []backend.VolumeMount{{VolumeID: "outside", ExternalID: volExt, MountPath: "/home/daytona/cache"}}})
					if err != nil {
						t.Fatalf("creating a sandbox outside Terraform: %v", err)
					}
				},
				Config:      daytonaHCL(env, fake),
				ExpectError: regexp.MustCompile(`in\s+use\s+by\s+one\s+or\s+more\s+sandboxes`),
			},
			{
				// Once that sandbox is gone, someone deletes the volume behind Terraform's back: Daytona keeps
				// reading it by id, in state "deleted", which the provider takes as gone.
				PreConfig: func() {
					if err := eng.DeleteSandbox(ctx, intruder.ExternalID); err != nil {
						t.Fatal(err)
					}
					if err := eng.DeleteVolume(ctx, volExt); err != nil {
						t.Fatal(err)
					}
					if st := fake.VolumeState(volExt); st != "deleted" {
						t.Fatalf("volume %s is %q on the fake, want deleted", volExt, st)
					}
				},
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("sandbox_volume.v", plancheck.ResourceActionCreate),
				}},
				Check: func(s *terraform.State) error {
					if id := attrOf(s, "sandbox_volume.v", "external_volume_id"); id == volExt || fake.VolumeState(id) != "ready" {
						return fmt.Errorf("volume after re-create: %s (%s), the deleted one was %s", id, fake.VolumeState(id), volExt)
					}
					return nil
				},
			},
		},
	})
}
