# A sandbox, a setup snapshot and a persistent workspace on Vercel Sandbox. The token comes from VERCEL_TOKEN
# (or VERCEL_OIDC_TOKEN, whose claims give the team and project), VERCEL_TEAM_ID and VERCEL_PROJECT_ID when the
# vercel block does not set them.
provider "sandbox" {
  backend = "vercel"
}

variable "github_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

# Run once in a builder sandbox and kept as a Vercel snapshot (never expires unless expiration says so).
resource "sandbox_setup" "deps" {
  command = ["sh", "-c", "mkdir -p app && echo 'console.log(\"ready\")' > app/index.js"]
  runtime = "node24"
}

# Starts from the setup's snapshot. A sandbox gets its first files from a setup or from a source
# (vercel { source = { type = "git", url = "..." } }), not both: the plan refuses the two together.
resource "sandbox_sandbox" "agent" {
  setup_id = sandbox_setup.deps.id
  runtime  = "node24"
  vcpus    = 2
  timeout  = "30m"
  ports    = [3000]
  purpose  = "agent"

  # GitHub is reachable, with the token injected by Vercel's firewall as a header: the sandbox never sees it,
  # and it is in neither state nor records (write-only).
  policy {
    mode                   = "allow_list"
    presets                = ["github", "npm"]
    credentials_wo         = { github = var.github_token }
    credentials_wo_version = 1
  }
}

# A sandbox whose first files come from a repository has a source instead of a setup_id:
#
#   vercel {
#     source = { type = "git", url = "https://github.com/example/app.git", revision = "main" }
#   }

# A persistent named sandbox: its files are snapshotted when it stops and come back when it resumes.
resource "sandbox_workspace" "notes" {
  name     = "notes"
  setup_id = sandbox_setup.deps.id
}

resource "sandbox_command" "check" {
  sandbox_id = sandbox_sandbox.agent.id
  command    = ["node", "app/index.js"]
}

output "agent_url" {
  value = sandbox_sandbox.agent.urls["3000"]
}
