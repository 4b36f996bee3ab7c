# Adopt a sandbox that already has a record (made by an application, or by another Terraform configuration whose
# state was lost) into the sandbox_sandbox.example resource.
import {
  to = sandbox_sandbox.example
  id = "6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f" # the record id in sandbox_sandboxes
}
