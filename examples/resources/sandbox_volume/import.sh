# Import a volume by the UUID of its record in sandbox_volumes.
terraform import sandbox_volume.cache 6f1c2d3e-8a9b-4c5d-9e0f-1a2b3c4d5e6f
