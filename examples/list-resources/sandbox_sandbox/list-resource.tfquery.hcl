# Every live sandbox an application made for its agents of team "search" since January, on any engine:
#   terraform query                                       lists them (record id, engine, status, purpose, labels)
#   terraform query -generate-config-out=adopted.tf       writes their configuration and import blocks
list "sandbox_sandbox" "agents" {
  provider = sandbox

  config {
    purpose       = "agent"
    labels        = { team = "search" }
    created_after = "2026-01-01T00:00:00Z"
  }
}
