# The quick start: one sandbox on the local engine (bubblewrap on this machine), recorded in SQLite, and one
# command run in it. Run it with scripts/quickstart.sh from the repository root.
terraform {
  required_version = ">= 1.11"
  required_providers {
    sandbox = {
      source = "ekairos/sandbox"
    }
  }
}

# No settings needed: the local engine and a SQLite file under ~/.local/share/terraform-provider-sandbox.
provider "sandbox" {}

resource "sandbox_sandbox" "hello" {
  purpose = "quickstart"
  timeout = "2m"
  params  = jsonencode({ owner = "quickstart" })
  env = {
    GREETING = "hello from a sandbox"
  }
}

# Runs once at apply time; its run is recorded in sandbox_processes.
resource "sandbox_command" "hello" {
  sandbox_id = sandbox_sandbox.hello.id
  command    = ["sh", "-c", "echo \"$GREETING: home $HOME, $(ls /proc | grep -c '^[0-9]') processes visible\""]
}

output "sandbox_id" {
  description = "The sandbox's record id: the Terraform id, and the id an app passes to getSandbox()."
  value       = sandbox_sandbox.hello.id
}

output "hello" {
  description = "What the command printed."
  value       = trimspace(sandbox_command.hello.stdout)
}
