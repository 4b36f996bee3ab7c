# Terraform 1.12 and later: import by identity, the UUID of the record in sandbox_workspaces.
import {
  to = sandbox_workspace.repo
  identity = {
    id = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f"
  }
}
