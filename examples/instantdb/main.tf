# Records in your app's InstantDB: the app reconnects with @ekairos/sandbox's getSandbox(id) to the sandboxes
# this configuration makes. Credentials come from the environment the app already has:
#   export INSTANT_APP_ID=...            (or NEXT_PUBLIC_INSTANT_APP_ID)
#   export INSTANT_APP_ADMIN_TOKEN=...
# Push the provider's entities into the app's schema first (see the InstantDB guide).
terraform {
  required_version = ">= 1.11"
  required_providers {
    sandbox = {
      source = "ekairos/sandbox"
    }
  }
}

provider "sandbox" {
  records = "instantdb" # explicit; with INSTANT_* set and no records setting, InstantDB is chosen too
}

resource "sandbox_sandbox" "agent" {
  purpose = "agent"
  timeout = "10m"
  params  = jsonencode({ team = "platform" })
}

output "sandbox_id" {
  description = "Pass this to getSandbox() in the app."
  value       = sandbox_sandbox.agent.id
}
