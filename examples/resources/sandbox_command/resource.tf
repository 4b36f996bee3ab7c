resource "sandbox_sandbox" "ci" {
  purpose = "ci"
}

# Runs once at apply time, and again when the script's hash changes.
resource "sandbox_command" "seed" {
  sandbox_id = sandbox_sandbox.ci.id
  command    = ["sh", "-c", "mkdir -p data && echo seeded > data/marker && cat data/marker"]
  timeout    = "2m"
  triggers = {
    version = "1"
  }
}

output "seed_output" {
  value = sandbox_command.seed.stdout
}
