# The durable workspaces on Daytona that are still live.
list "sandbox_workspace" "daytona" {
  provider = sandbox

  config {
    backend = "daytona"
  }
}
