# The newest active sandboxes made for CI on the local engine.
data "sandbox_records" "ci" {
  kind    = "sandbox"
  backend = "local"
  status  = "active"
  purpose = "ci"
  limit   = 20
}

output "ci_sandbox_ids" {
  value = data.sandbox_records.ci.ids
}

# Records are history: destroyed sandboxes keep their record with status "shutdown".
data "sandbox_records" "shut_down" {
  status = "shutdown"
  order  = "desc"
  limit  = 10
}

output "recently_shut_down" {
  value = [for r in data.sandbox_records.shut_down.records : { id = r.id, at = r.shutdown_at }]
}

# The runs of the smoke tests (sandbox_command or the sandbox_run action with labels = { job = "smoke" }).
data "sandbox_records" "smoke_runs" {
  kind   = "process"
  labels = { job = "smoke" }
}
