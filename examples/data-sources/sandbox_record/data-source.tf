resource "sandbox_sandbox" "ci" {
  purpose = "ci"
}

# Read the sandbox's record exactly as an application reading the record store sees it.
data "sandbox_record" "ci" {
  id = sandbox_sandbox.ci.id
}

output "record_status" {
  value = data.sandbox_record.ci.status # "active"
}

output "record_timeout_ms" {
  # Every field of the record, with the data model's own names.
  value = jsondecode(data.sandbox_record.ci.attributes).timeout
}
