# One setup, built once, and two workspaces started from it. Each workspace's files are its own and outlive
# every command run in it.
terraform {
  required_version = ">= 1.11"
  required_providers {
    sandbox = {
      source = "ekairos/sandbox"
    }
  }
}

provider "sandbox" {}

resource "sandbox_setup" "base" {
  command = ["sh", "-c", "mkdir -p repo && echo 'v1' > repo/VERSION"]
}

resource "sandbox_workspace" "alice" {
  name     = "alice"
  setup_id = sandbox_setup.base.id
}

resource "sandbox_workspace" "bob" {
  name     = "bob"
  setup_id = sandbox_setup.base.id
}

# A command seeds alice's workspace only; bob's stays as the setup left it.
resource "sandbox_command" "alice_edit" {
  workspace_id = sandbox_workspace.alice.id
  command      = ["sh", "-c", "echo 'v2 (alice)' > repo/VERSION"]
}

resource "sandbox_command" "versions" {
  for_each     = { alice = sandbox_workspace.alice.id, bob = sandbox_workspace.bob.id }
  workspace_id = each.value
  command      = ["cat", "repo/VERSION"]
  depends_on   = [sandbox_command.alice_edit]
}

output "versions" {
  value = { for k, c in sandbox_command.versions : k => trimspace(c.stdout) }
}
