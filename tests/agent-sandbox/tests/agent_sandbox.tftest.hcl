# terraform test suite of the agent-sandbox module, on the local engine with SQLite records.
# scripts/tftest.sh runs it against the provider built from this repository (dev_overrides).

variables {
  # Where this test keeps its records and sandboxes, relative to the directory `terraform test` runs in, so
  # the test never touches the user's data directory. scripts/tftest.sh runs it in a temporary copy.
  scratch_dir = ".sandbox-test"
}

provider "sandbox" {
  backend     = "local"
  records     = "sqlite"
  sqlite_path = abspath("${var.scratch_dir}/records.db")

  local {
    root = abspath("${var.scratch_dir}/local")
  }
}

run "plan_resolves_defaults" {
  command = plan

  assert {
    condition     = sandbox_sandbox.this.backend == "local"
    error_message = "The plan should resolve backend to the provider's default engine, local."
  }
  assert {
    condition     = sandbox_sandbox.this.timeout == "5m" && sandbox_sandbox.this.desired_state == "running"
    error_message = "The plan should carry the module's timeout and the default desired_state."
  }
}

run "create" {
  command = apply

  assert {
    condition     = can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", sandbox_sandbox.this.id))
    error_message = "The id should be the record id, a UUID; got ${sandbox_sandbox.this.id}."
  }
  assert {
    condition     = sandbox_sandbox.this.status == "active" && sandbox_sandbox.this.state == "running"
    error_message = "A new sandbox should have an active record and be running; got status ${sandbox_sandbox.this.status}, state ${sandbox_sandbox.this.state}."
  }
  assert {
    condition     = sandbox_sandbox.this.external_sandbox_id != null && sandbox_sandbox.this.external_sandbox_id != sandbox_sandbox.this.id
    error_message = "The engine's own id should be recorded, and differ from the record id."
  }
  assert {
    condition     = output.probe == "ok"
    error_message = "The probe command should print ok; got ${output.probe}."
  }
  assert {
    condition     = data.sandbox_record.this.kind == "sandbox" && data.sandbox_record.this.status == "active"
    error_message = "sandbox_record should read the sandbox's active record."
  }
  assert {
    condition     = output.record.provider == "local" && output.record.timeout == 300000 && output.record.purpose == "agent"
    error_message = "The record should hold the library's fields: provider, timeout in ms, purpose."
  }
  assert {
    condition     = contains(data.sandbox_records.active.ids, sandbox_sandbox.this.id)
    error_message = "sandbox_records should list the new sandbox among the active ones."
  }
}

run "update_in_place" {
  command = apply

  variables {
    purpose = "ci"
    timeout = "10m"
  }

  assert {
    condition     = sandbox_sandbox.this.id == run.create.id
    error_message = "Changing purpose and timeout should update the sandbox in place, keeping its record id."
  }
  assert {
    condition     = output.record.purpose == "ci" && output.record.timeout == 600000
    error_message = "The record should follow the in-place update."
  }
}

run "stop" {
  command = apply

  variables {
    purpose       = "ci"
    desired_state = "stopped"
  }

  assert {
    condition     = sandbox_sandbox.this.id == run.create.id && sandbox_sandbox.this.state == "stopped"
    error_message = "desired_state = stopped should stop the same sandbox in place; got state ${sandbox_sandbox.this.state}."
  }
  assert {
    condition     = sandbox_sandbox.this.status == "active"
    error_message = "A stopped sandbox still has an active record: running or stopped is engine state."
  }
}

run "replace_on_ports" {
  command = apply

  variables {
    purpose = "ci"
    ports   = [8080]
  }

  assert {
    condition     = sandbox_sandbox.this.id != run.create.id
    error_message = "Changing ports should replace the sandbox, with a new record id."
  }
  assert {
    condition     = sandbox_sandbox.this.status == "active" && contains(keys(sandbox_sandbox.this.urls), "8080")
    error_message = "The new sandbox should be active with a URL for port 8080."
  }
  assert {
    condition     = !contains(data.sandbox_records.active.ids, run.create.id)
    error_message = "The replaced sandbox's record should no longer be active (it is shutdown: records are history)."
  }
}
