package provider

import (
	"syscall"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccLocal_noInheritedDescriptors: a descriptor of the provider's process that is not close-on-exec (as a
// parent or a library may leave one) is not seen by a sandbox_command's command: it sees 0, 1 and 2 only (3 is
// ls's own directory).
func TestAccLocal_noInheritedDescriptors(t *testing.T) {
	env := newTestEnv(t)
	fd, err := syscall.Open("/etc/hostname", syscall.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	cfg := env.providerHCL() + `
resource "sandbox_sandbox" "test" {}

resource "sandbox_command" "fds" {
  sandbox_id = sandbox_sandbox.test.id
  command    = ["sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]
}
`
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps:                    []resource.TestStep{{Config: cfg, Check: resource.TestCheckResourceAttr("sandbox_command.fds", "stdout", "0 1 2 3 ")}},
	})
}
