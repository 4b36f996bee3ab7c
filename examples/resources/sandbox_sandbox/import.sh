# Import a sandbox by its record id (the UUID of its record in sandbox_sandboxes).
terraform import sandbox_sandbox.example 6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f
