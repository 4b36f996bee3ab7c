# Sandboxes, a volume, a setup snapshot and a workspace on Daytona. The API key comes from DAYTONA_API_KEY (and
# DAYTONA_API_URL, DAYTONA_TARGET, DAYTONA_ORGANIZATION_ID) when the daytona block does not set it.
provider "sandbox" {
  backend = "daytona"
}

# Built once in a builder sandbox and kept as the snapshot ekairos-setup-<fingerprint>; sandboxes and workspaces
# with setup_id start from it without running the command again. A setup that fetches packages needs the
# network: say so with a policy (mode = "allow_list", presets = ["npm"]).
resource "sandbox_setup" "node" {
  command = ["sh", "-c", "mkdir -p tools && echo 'node toolchain ready' > tools/READY"]
}

# A Daytona volume; its files outlive every sandbox that mounts it.
resource "sandbox_volume" "cache" {
  name = "pnpm-cache"
}

resource "sandbox_sandbox" "ci" {
  setup_id = sandbox_setup.node.id
  purpose  = "ci"
  ports    = [3000]

  volume {
    volume_id  = sandbox_volume.cache.id
    mount_path = "/home/daytona/.cache/pnpm"
  }

  daytona {
    auto_stop_interval = 30 # minutes idle before Daytona stops it
    labels             = { team = "platform" }
  }
}

# Durable files on a Daytona volume of its own; the sandboxes that run its commands come and go. Its commands
# run on the volume and see the setup's files there.
resource "sandbox_workspace" "repo" {
  name     = "repo"
  setup_id = sandbox_setup.node.id
}

resource "sandbox_command" "check" {
  sandbox_id = sandbox_sandbox.ci.id
  command    = ["sh", "-c", "cat tools/READY"]
}

resource "sandbox_command" "workspace_check" {
  workspace_id = sandbox_workspace.repo.id
  command      = ["sh", "-c", "cat tools/READY && date > built-at.txt"]
}

output "preview_url" {
  value = sandbox_sandbox.ci.urls["3000"]
}

output "preview_token" {
  value     = sandbox_sandbox.ci.url_tokens["3000"]
  sensitive = true
}
