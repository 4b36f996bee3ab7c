resource "sandbox_volume" "cache" {
  name = "build-cache"
}

# What the sandbox writes under /cache outlives it.
resource "sandbox_sandbox" "builder" {
  purpose = "ci"

  volume {
    volume_id  = sandbox_volume.cache.id
    mount_path = "/cache"
  }
}

resource "sandbox_command" "warm" {
  sandbox_id = sandbox_sandbox.builder.id
  command    = ["sh", "-c", "date > /cache/last-build && cat /cache/last-build"]
}
