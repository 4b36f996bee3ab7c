# A sandbox for an AI agent on the local engine. Its id is the record id in sandbox_sandboxes: hand it to the
# application, which reconnects with getSandbox(id) from @ekairos/sandbox.
resource "sandbox_sandbox" "example" {
  backend = "local"
  timeout = "10m" # the longest any one command may run
  purpose = "agent"
  ports   = [3000]

  params = jsonencode({
    team = "platform"
  })

  # Merged over the provider's default_labels into labels_all; sandbox_records filters on them.
  labels = {
    owner = "agents"
  }

  env = {
    NODE_ENV = "production"
  }

  local {
    max_processes = 256  # processes and threads of all its commands together
    memory_mb     = 2048 # the whole sandbox, all its processes together
    tmp_mb        = 512
  }
}

output "sandbox_id" {
  description = "The record id: the durable handle of the sandbox."
  value       = sandbox_sandbox.example.id
}

output "sandbox_urls" {
  value = sandbox_sandbox.example.urls
}
