variable "test_token" {
  type      = string
  sensitive = true
  default   = "example-token"
}

resource "sandbox_sandbox" "ci" {
  purpose = "ci"
  labels  = { pipeline = "tests" }

  # Run the smoke test after the sandbox is created and after every in-place update.
  lifecycle {
    action_trigger {
      events  = [after_create, after_update]
      actions = [action.sandbox_run.smoke]
    }
  }
}

# Run it on demand too: terraform apply -invoke=action.sandbox_run.smoke
action "sandbox_run" "smoke" {
  config {
    sandbox_id = sandbox_sandbox.ci.id
    command    = ["sh", "-c", "echo running the tests; test -n \"$TEST_TOKEN\""]
    env        = { TEST_TOKEN = var.test_token }
    timeout    = "10m"
    labels     = { job = "smoke" }
  }
}
