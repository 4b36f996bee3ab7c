# Import a setup by the UUID of its record in sandbox_setups.
terraform import sandbox_setup.toolchain 6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f
