# Sandboxes, a setup and a workspace on Sprites. The token comes from SPRITES_API_TOKEN (or SPRITE_TOKEN,
# SPRITES_TOKEN) when the sprites block does not set it.
provider "sandbox" {
  backend = "sprites"
}

# Runs once in each new sprite made from it; that sprite is then checkpointed, so that restoring the
# checkpoint returns it to the set-up state.
resource "sandbox_setup" "tools" {
  command = ["sh", "-c", "mkdir -p tools && echo ready > tools/READY"]
}

resource "sandbox_sandbox" "agent" {
  setup_id = sandbox_setup.tools.id
  purpose  = "agent"

  sprites {
    url_auth          = "sprite" # the default: only callers with a Sprites token open the URL
    wait_for_capacity = true
    labels            = { team = "agents" }
  }
}

# A workspace is one long-lived sprite. Change checkpoint_trigger to take a checkpoint; set
# restore_checkpoint_id to one of `checkpoints` to restore its files to it.
resource "sandbox_workspace" "repo" {
  name               = "repo"
  setup_id           = sandbox_setup.tools.id
  checkpoint_trigger = "release-1"
}

resource "sandbox_command" "build" {
  workspace_id = sandbox_workspace.repo.id
  command      = ["sh", "-c", "cat tools/READY && date > built-at.txt"]
}

output "workspace_checkpoints" {
  value = sandbox_workspace.repo.checkpoints
}
