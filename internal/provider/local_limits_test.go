package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/ekairos/terraform-provider-sandbox/internal/backend"
	"github.com/ekairos/terraform-provider-sandbox/internal/backend/engine/local"
)

// Plan-time refusals of what the local engine could only refuse at apply (leaving an error record and a tainted
// resource): each error on its attribute, with what would be valid.
func TestAccLocal_planTimeValidation(t *testing.T) {
	env := newTestEnv(t)
	const volID = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"
	vol := func(mp string) string {
		return fmt.Sprintf("volume {\n volume_id = %q\n mount_path = %q\n }", volID, mp)
	}
	noneProvider := fmt.Sprintf("provider \"sandbox\" {\n sqlite_path = %q\n local {\n root = %q\n isolation = \"none\"\n }\n}\n", env.dbPath, env.root)
	cases := []struct {
		name, config, want string
	}{
		{"mount on /", sandboxConfig(env, vol("/")), `(?s)mount_path = "/"\n.*other than /`},
		{"mount on /proc", sandboxConfig(env, vol("/proc")), `(?s)mount_path = "/proc".*/proc is the read-only system or a kernel`},
		{"mount under /usr", sandboxConfig(env, vol("/usr/local/x")), `(?s)mount_path = "/usr/local/x".*/usr is the read-only system`},
		{"mount on the home", sandboxConfig(env, vol("/home/sandbox")), `(?s)mount_path = "/home/sandbox".*holds the sandbox home.*/home/sandbox/data`},
		{"mount on /home", sandboxConfig(env, vol("/home")), `(?s)mount_path = "/home".*holds the sandbox home`},
		{"sandbox env NUL", sandboxConfig(env, `env = { A = "x\u0000y" }`), `(?s)env = \{ A = .*NUL byte`},
		{"empty program", commandConfig(env, "resource \"sandbox_command\" \"c\" {\n sandbox_id = sandbox_sandbox.test.id\n command = [\"\"]\n}\n"), `(?s) command = \[""\].*must not be empty`},
		{"NUL in argv", commandConfig(env, "resource \"sandbox_command\" \"c\" {\n sandbox_id = sandbox_sandbox.test.id\n command = [\"echo\", \"a\\u0000b\"]\n}\n"), `(?s)command = \["echo".*Argument 1 contains a NUL byte`},
		{"NUL in cwd", commandConfig(env, "resource \"sandbox_command\" \"c\" {\n sandbox_id = sandbox_sandbox.test.id\n command = [\"true\"]\n cwd = \"a\\u0000\"\n}\n"), `(?s)cwd = .*working directory contains a NUL byte`},
		{"NUL in command env", commandConfig(env, "resource \"sandbox_command\" \"c\" {\n sandbox_id = sandbox_sandbox.test.id\n command = [\"true\"]\n env = { B = \"\\u0000\" }\n}\n"), `(?s)env = \{ B = .*NUL byte`},
		{"NUL in destroy_command", commandConfig(env, "resource \"sandbox_command\" \"c\" {\n sandbox_id = sandbox_sandbox.test.id\n command = [\"true\"]\n destroy_command = [\"\"]\n}\n"), `(?s)destroy_command = \[""\].*must not be empty`},
		{"port 0 in a host entry", sandboxConfig(env, "policy {\n mode = \"allow_list\"\n hosts = [\"a.test:0\"]\n }"), `(?s)hosts.*optionally with a :port`},
		{"limits with isolation none", noneProvider + "resource \"sandbox_sandbox\" \"test\" {\n local {\n memory_mb = 64\n }\n}\n", `(?s)memory_mb = 64.*memory_mb: cannot be enforced with isolation = "none"`},
		{"tmp_mb out of range", sandboxConfig(env, "local {\n tmp_mb = 0\n }"), `(?s)tmp_mb.*between 1`},
		{"disk_mb with isolation none", noneProvider + "resource \"sandbox_sandbox\" \"test\" {\n local {\n disk_mb = 64\n }\n}\n", `(?s)disk_mb = 64.*disk_mb: cannot be enforced with isolation = "none"`},
		{"disk_mb too small", sandboxConfig(env, "local {\n disk_mb = 8\n }"), `(?s)disk_mb.*between 16`},
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

// TestAccLocal_limits: the local block's limits hold for the sandbox's commands as Terraform runs them: more
// processes than max_processes fail to fork, writing past tmp_mb fails with ENOSPC inside the sandbox, and (where
// the host can enforce it) four processes together cannot exceed memory_mb.
func TestAccLocal_limits(t *testing.T) {
	env := newTestEnv(t)
	eng, ok := env.engine().(*local.Engine)
	if !ok {
		t.Fatal("the test engine is not the local engine")
	}
	lim := "max_processes = 32\n    tmp_mb = 8"
	memCheck := ""
	if eng.ValidateSpec(backend.SandboxSpec{Options: map[string]any{local.OptionMemoryMB: 128, local.OptionMaxProcesses: 16}}) == nil {
		lim += "\n    memory_mb = 128"
		memCheck = `
resource "sandbox_command" "memory" {
  sandbox_id    = sandbox_sandbox.test.id
  command       = ["sh", "-c", "for i in 1 2 3 4; do ( (head -c 60000000 /dev/zero; sleep 3) | tail -n1 >/dev/null; echo rc=$? ) & done; wait"]
  allow_failure = true
  depends_on    = [sandbox_command.tmp]
}
`
	} else if eng.ValidateSpec(backend.SandboxSpec{Options: map[string]any{local.OptionMaxProcesses: 16}}) != nil {
		t.Skip("max_processes cannot be enforced on this host")
	}
	diskCheck := ""
	if eng.ValidateSpec(backend.SandboxSpec{Options: map[string]any{local.OptionDiskMB: 32}}) == nil {
		lim += "\n    disk_mb = 32"
		diskCheck = `
resource "sandbox_command" "disk" {
  sandbox_id    = sandbox_sandbox.test.id
  command       = ["sh", "-c", "head -c 64000000 /dev/zero > big"]
  allow_failure = true
  depends_on    = [sandbox_command.tmp]
}
`
	}
	cfg := env.providerHCL() + fmt.Sprintf(`
resource "sandbox_sandbox" "test" {
  local {
    %s
  }
}

resource "sandbox_command" "fork" {
  sandbox_id    = sandbox_sandbox.test.id
  command       = ["sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 1 & i=$((i+1)); done; wait; echo done"]
  allow_failure = true
}

resource "sandbox_command" "tmp" {
  sandbox_id    = sandbox_sandbox.test.id
  command       = ["sh", "-c", "head -c 16000000 /dev/zero > /tmp/big"]
  allow_failure = true
  depends_on    = [sandbox_command.fork]
}
%s%s`, lim, memCheck, diskCheck)
	checks := []resource.TestCheckFunc{
		resource.TestMatchResourceAttr("sandbox_command.fork", "stderr", regexp.MustCompile(`fork`)),
		resource.TestMatchResourceAttr("sandbox_command.tmp", "stderr", regexp.MustCompile(`No space left on device`)),
		resource.TestCheckResourceAttr("sandbox_command.tmp", "exit_code", "1"),
	}
	if diskCheck != "" {
		checks = append(checks, resource.TestMatchResourceAttr("sandbox_command.disk", "stderr", regexp.MustCompile(`No space left on device`)))
	}
	if memCheck != "" {
		checks = append(checks, resource.TestMatchResourceAttr("sandbox_command.memory", "stdout", regexp.MustCompile(`rc=137`)))
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			sbs, err := env.engine().ListSandboxes(t.Context())
			if err != nil {
				return err
			}
			if len(sbs) != 0 {
				return fmt.Errorf("%d sandboxes left on the engine", len(sbs))
			}
			return nil
		},
		Steps: []resource.TestStep{{Config: cfg, Check: resource.ComposeAggregateTestCheckFunc(checks...)}},
	})
}

// TestAccLocal_diskFromSetup: a sandbox made from a setup with local.disk_mb has the setup's files in a file
// system of that size: the setup's files are there, and writing past the size fails inside the sandbox.
func TestAccLocal_diskFromSetup(t *testing.T) {
	env := newTestEnv(t)
	if err := env.engine().ValidateSpec(backend.SandboxSpec{Options: map[string]any{local.OptionDiskMB: 32}}); err != nil {
		t.Skipf("disk_mb cannot be enforced here: %v", err)
	}
	cfg := env.providerHCL() + `
resource "sandbox_setup" "deps" {
  command = ["sh", "-c", "mkdir -p deps && printf from-setup > deps/marker"]
}

resource "sandbox_sandbox" "test" {
  setup_id = sandbox_setup.deps.id
  local {
    disk_mb = 32
  }
}

resource "sandbox_command" "read" {
  sandbox_id = sandbox_sandbox.test.id
  command    = ["cat", "deps/marker"]
}

resource "sandbox_command" "fill" {
  sandbox_id    = sandbox_sandbox.test.id
  command       = ["sh", "-c", "head -c 64000000 /dev/zero > big"]
  allow_failure = true
  depends_on    = [sandbox_command.read]
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{Config: cfg, Check: resource.ComposeAggregateTestCheckFunc(
			resource.TestCheckResourceAttr("sandbox_command.read", "stdout", "from-setup"),
			resource.TestMatchResourceAttr("sandbox_command.fill", "stderr", regexp.MustCompile(`No space left on device`)),
			resource.TestCheckResourceAttr("sandbox_command.fill", "exit_code", "1"),
		)}},
	})
}

// TestAccLocal_sandboxUserNotRoot: with the provider as root, what a sandbox's commands run as and write is the
// unprivileged sandbox uid on the host, never root, while the commands still see themselves as uid 0.
func TestAccLocal_sandboxUserNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the provider is not root: sandboxes run as its own user")
	}
	env := newTestEnv(t)
	cfg := env.providerHCL() + `
resource "sandbox_sandbox" "test" {}

resource "sandbox_command" "write" {
  sandbox_id = sandbox_sandbox.test.id
  command    = ["sh", "-c", "id -u; echo x > made && cp /bin/sh shcopy && chmod 4755 shcopy && echo ok"]
}
`
	ownedBySandboxUser := func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources["sandbox_sandbox.test"]
		if !ok {
			return fmt.Errorf("no sandbox in state")
		}
		home := filepath.Join(env.root, "sandboxes", rs.Primary.Attributes["external_sandbox_id"], "home")
		for _, name := range []string{".", "made", "shcopy"} {
			fi, err := os.Lstat(filepath.Join(home, name))
			if err != nil {
				return err
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok || st.Uid != local.DefaultSandboxUID || st.Gid != local.DefaultSandboxUID {
				return fmt.Errorf("%s in the sandbox's home is owned by %v on the host, want the sandbox uid %d", name, fi.Sys(), local.DefaultSandboxUID)
			}
		}
		return nil
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{{Config: cfg, Check: resource.ComposeAggregateTestCheckFunc(
			resource.TestCheckResourceAttr("sandbox_command.write", "stdout", "0\nok\n"),
			ownedBySandboxUser,
		)}},
	})
}
