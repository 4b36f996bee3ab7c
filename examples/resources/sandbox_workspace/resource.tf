resource "sandbox_workspace" "repo" {
  name    = "repo"
  timeout = "10m"

  policy {
    mode = "deny_all"
  }
}

# Seed the workspace: its files stay for every later command.
resource "sandbox_command" "seed" {
  workspace_id = sandbox_workspace.repo.id
  command      = ["sh", "-c", "mkdir -p src && echo 'print(1)' > src/main.py"]
}

resource "sandbox_command" "list" {
  workspace_id = sandbox_workspace.repo.id
  command      = ["ls", "src"]
  depends_on   = [sandbox_command.seed]
}
