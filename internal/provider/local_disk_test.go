package provider

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
)

// diskImagesRefused is why the test engine refuses a sized volume here (nil where disk images work).
func diskImagesRefused(t *testing.T, env *testEnv) error {
	t.Helper()
	vv, ok := env.engine().(backend.VolumeValidator)
	if !ok {
		t.Fatal("the test engine does not validate volumes")
	}
	return vv.ValidateVolumeSpec(backend.VolumeSpec{Options: map[string]any{"disk_mb": 32}})
}

// diskConfig is a sized volume shared by two sandboxes and a sized workspace, with commands that write past
// their sizes.
func diskConfig(env *testEnv) string {
	return env.providerHCL() + `
resource "sandbox_volume" "data" {
  name = "sized"
  local {
    disk_mb = 32
  }
}

resource "sandbox_workspace" "ws" {
  name = "dev"
  local {
    disk_mb = 32
  }
}

resource "sandbox_sandbox" "a" {
  volume {
    volume_id  = sandbox_volume.data.id
    mount_path = "/data"
  }
}

resource "sandbox_sandbox" "b" {
  volume {
    volume_id  = sandbox_volume.data.id
    mount_path = "/home/sandbox/shared"
  }
}

resource "sandbox_command" "vol_fill" {
  sandbox_id    = sandbox_sandbox.a.id
  command       = ["sh", "-c", "head -c 8000000 /dev/zero > /data/small && head -c 64000000 /dev/zero > /data/big"]
  allow_failure = true
}

resource "sandbox_command" "vol_read" {
  sandbox_id = sandbox_sandbox.b.id
  command    = ["sh", "-c", "rm -f shared/big; wc -c < shared/small; head -c 1000000 /dev/zero > in-home && echo home-ok"]
  depends_on = [sandbox_command.vol_fill]
}

resource "sandbox_command" "ws_fill" {
  workspace_id  = sandbox_workspace.ws.id
  command       = ["sh", "-c", "head -c 64000000 /dev/zero > big"]
  allow_failure = true
}
`
}

// TestAccLocal_diskWorkspaceAndVolume: local.disk_mb on a volume and a workspace, through terraform: writing
// past the size fails inside with "No space left on device" (the sandbox's own home is unaffected), two
// sandboxes share the volume's data, the image takes no more than its size on the host, the plan after apply
// is empty, both import with the block (terraform import and an import {} block planning nothing), and destroy
// leaves no mount behind.
func TestAccLocal_diskWorkspaceAndVolume(t *testing.T) {
	env := newTestEnv(t)
	if err := diskImagesRefused(t, env); err != nil {
		t.Skipf("disk_mb cannot be enforced here: %v (TestAccLocal_diskRefusedAtPlan covers the refusal)", err)
	}
	cfg := diskConfig(env)
	imageSize := func(rel ...string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			var st syscall.Stat_t
			p := filepath.Join(append([]string{env.root}, rel...)...)
			if err := syscall.Stat(p, &st); err != nil {
				return err
			}
			if st.Blocks*512 > 33<<20 {
				return fmt.Errorf("%s takes %d bytes on the host, more than its 32 MiB", p, st.Blocks*512)
			}
			return nil
		}
	}
	volImage := func(s *terraform.State) error {
		ext := s.RootModule().Resources["sandbox_volume.data"].Primary.Attributes["external_volume_id"]
		return imageSize("volumes", ext, "volume.img")(s)
	}
	wsImage := func(s *terraform.State) error {
		ext := s.RootModule().Resources["sandbox_workspace.ws"].Primary.Attributes["external_id"]
		return imageSize("workspaces", ext, "home.img")(s)
	}
	steps := []resource.TestStep{{
		Config: cfg,
		Check: resource.ComposeAggregateTestCheckFunc(
			resource.TestCheckResourceAttr("sandbox_volume.data", "local.disk_mb", "32"),
			resource.TestCheckResourceAttr("sandbox_workspace.ws", "local.disk_mb", "32"),
			resource.TestMatchResourceAttr("sandbox_command.vol_fill", "stderr", regexp.MustCompile(`No space left on device`)),
			resource.TestCheckResourceAttr("sandbox_command.vol_fill", "exit_code", "1"),
			resource.TestCheckResourceAttr("sandbox_command.vol_read", "stdout", "8000000\nhome-ok\n"),
			resource.TestMatchResourceAttr("sandbox_command.ws_fill", "stderr", regexp.MustCompile(`No space left on device`)),
			resource.TestCheckResourceAttr("sandbox_command.ws_fill", "exit_code", "1"),
			volImage, wsImage,
		),
	}, {Config: cfg, PlanOnly: true}}
	steps = append(steps, importSteps("sandbox_volume.data")...)
	steps = append(steps, importSteps("sandbox_workspace.ws")...)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps:                    steps,
		CheckDestroy: func(*terraform.State) error {
			b, err := os.ReadFile("/proc/self/mountinfo")
			if err != nil {
				return err
			}
			if strings.Contains(string(b), env.root) {
				return fmt.Errorf("mounts under the local root are left after destroy:\n%s", b)
			}
			ve, ok := env.engine().(backend.VolumeEngine)
			if !ok {
				return fmt.Errorf("the test engine has no volumes")
			}
			vols, err := ve.ListVolumes(t.Context())
			if err != nil {
				return err
			}
			if len(vols) != 0 {
				return fmt.Errorf("volumes left on the engine: %v", vols)
			}
			return nil
		},
	})
}

// TestAccLocal_diskChange: a larger disk_mb grows a volume (mounted by a sandbox) and a workspace in place: an
// update, not a replacement; the files stay and the new room is usable, and an import gives back the new size;
// a smaller one replaces the workspace (and the commands on it run again, in order: ws_more after ws_first).
func TestAccLocal_diskChange(t *testing.T) {
	env := newTestEnv(t)
	if err := diskImagesRefused(t, env); err != nil {
		t.Skipf("disk_mb cannot be enforced here: %v", err)
	}
	cfg := func(volMB, wsMB int, more string) string {
		return env.providerHCL() + fmt.Sprintf(`
resource "sandbox_volume" "data" {
  name = "sized"
  local {
    disk_mb = %d
  }
}

resource "sandbox_workspace" "ws" {
  name = "dev"
  local {
    disk_mb = %d
  }
}

resource "sandbox_sandbox" "a" {
  volume {
    volume_id  = sandbox_volume.data.id
    mount_path = "/data"
  }
}

resource "sandbox_command" "first" {
  sandbox_id = sandbox_sandbox.a.id
  command    = ["sh", "-c", "head -c 8000000 /dev/zero > /data/a && echo ok"]
}

resource "sandbox_command" "ws_first" {
  workspace_id = sandbox_workspace.ws.id
  command      = ["sh", "-c", "head -c 8000000 /dev/zero > a && echo ok"]
}
%s`, volMB, wsMB, more)
	}
	grown := `
resource "sandbox_command" "more" {
  sandbox_id = sandbox_sandbox.a.id
  command    = ["sh", "-c", "wc -c < /data/a && head -c 24000000 /dev/zero > /data/b && echo grown"]
  depends_on = [sandbox_command.first]
}

resource "sandbox_command" "ws_more" {
  workspace_id = sandbox_workspace.ws.id
  command      = ["sh", "-c", "wc -c < a && head -c 24000000 /dev/zero > b && echo grown"]
  depends_on   = [sandbox_command.ws_first]
}
`
	steps := []resource.TestStep{
		{Config: cfg(16, 16, "")},
		{
			Config: cfg(48, 48, grown),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				plancheck.ExpectResourceAction("sandbox_volume.data", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("sandbox_workspace.ws", plancheck.ResourceActionUpdate),
				plancheck.ExpectResourceAction("sandbox_sandbox.a", plancheck.ResourceActionNoop),
			}},
			Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("sandbox_volume.data", "local.disk_mb", "48"),
				resource.TestCheckResourceAttr("sandbox_workspace.ws", "local.disk_mb", "48"),
				resource.TestCheckResourceAttr("sandbox_command.more", "stdout", "8000000\ngrown\n"),
				resource.TestCheckResourceAttr("sandbox_command.ws_more", "stdout", "8000000\ngrown\n"),
			),
		},
	}
	steps = append(steps, importSteps("sandbox_volume.data")...)
	steps = append(steps, importSteps("sandbox_workspace.ws")...)
	steps = append(steps, resource.TestStep{
		Config: cfg(48, 40, grown),
		ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
			plancheck.ExpectResourceAction("sandbox_workspace.ws", plancheck.ResourceActionDestroyBeforeCreate),
			plancheck.ExpectResourceAction("sandbox_volume.data", plancheck.ResourceActionNoop),
		}},
		Check: resource.TestCheckResourceAttr("sandbox_workspace.ws", "local.disk_mb", "40"),
	})
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: testProviderFactories, Steps: steps})
}

// TestAccLocal_diskRefusedAtPlan: where disk images cannot be enforced (here: the provider is not root; the
// unprivileged run of TestAccLocal_diskUnprivileged), the plan fails on local.disk_mb of a sandbox, a workspace
// and a volume with the reason; on another engine the block is refused at plan.
func TestAccLocal_diskRefusedAtPlan(t *testing.T) {
	env := newTestEnv(t)
	cases := []struct{ name, config, want string }{
		{"volume on another engine", env.providerHCL() + "resource \"sandbox_volume\" \"v\" {\n name = \"x\"\n backend = \"daytona\"\n local {\n disk_mb = 32\n }\n}\n", `(?s)local.*only applies to backend = "local"`},
		{"workspace disk too small", env.providerHCL() + "resource \"sandbox_workspace\" \"w\" {\n name = \"x\"\n local {\n disk_mb = 8\n }\n}\n", `(?s)disk_mb.*between 16`},
	}
	if os.Geteuid() != 0 {
		for what, cfg := range map[string]string{
			"sandbox":   "resource \"sandbox_sandbox\" \"s\" {\n local {\n disk_mb = 32\n }\n}\n",
			"workspace": "resource \"sandbox_workspace\" \"w\" {\n name = \"x\"\n local {\n disk_mb = 32\n }\n}\n",
			"volume":    "resource \"sandbox_volume\" \"v\" {\n name = \"x\"\n local {\n disk_mb = 32\n }\n}\n",
		} {
			cases = append(cases, struct{ name, config, want string }{what + " unprivileged", env.providerHCL() + cfg,
				`(?s)disk_mb = 32.*local option disk_mb: cannot be enforced on this host: .*only root can mount`})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resource.UnitTest(t, resource.TestCase{
				ProtoV6ProviderFactories: testProviderFactories,
				Steps:                    []resource.TestStep{{Config: tc.config, PlanOnly: true, ExpectError: regexp.MustCompile(tc.want)}},
			})
		})
	}
}

// TestAccLocal_diskUnprivileged runs TestAccLocal_diskRefusedAtPlan again as an unprivileged user (nobody) when
// the tests run as root: the plan must fail on disk_mb with the reason, never apply without a limit.
func TestAccLocal_diskUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: TestAccLocal_diskRefusedAtPlan already runs unprivileged")
	}
	tf := os.Getenv("TF_ACC_TERRAFORM_PATH")
	if tf == "" {
		var err error
		if tf, err = exec.LookPath("terraform"); err != nil {
			t.Skip("no terraform")
		}
	}
	const nobody = 65534
	dir := t.TempDir()
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	for p := filepath.Dir(filepath.Dir(dir)); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not traversable by other users", p)
		}
		if p == "/" {
			break
		}
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "provider.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	// terraform too: TF_ACC_TERRAFORM_PATH may be in root's home (the terraform 1.14 build in its user cache),
	// which nobody cannot reach.
	tfBin, err := os.ReadFile(tf)
	if err != nil {
		t.Fatal(err)
	}
	tf = filepath.Join(dir, "terraform")
	if err := os.WriteFile(tf, tfBin, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), bin, "-test.run", "^TestAccLocal_diskRefusedAtPlan$", "-test.count=1", "-test.v")
	cmd.Dir = tmp
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmp, "TMPDIR=" + tmp, "TF_ACC=1", "TF_ACC_TERRAFORM_PATH=" + tf,
		"TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the unprivileged run failed (%v):\n%s", err, out)
	}
	for _, name := range []string{"sandbox_unprivileged", "workspace_unprivileged", "volume_unprivileged"} {
		if !strings.Contains(string(out), "--- PASS: TestAccLocal_diskRefusedAtPlan/"+name) {
			t.Errorf("the unprivileged run did not pass %s:\n%s", name, out)
		}
	}
}
