# agent-sandbox: a small module that gives an AI agent a sandbox on the local engine, proves that it runs
# commands, and returns the record id the agent's application reconnects with. Its terraform test suite is in
# tests/; run it with scripts/tftest.sh from the repository root.
terraform {
  required_version = ">= 1.7"
  required_providers {
    sandbox = {
      source = "ekairos/sandbox"
    }
  }
}

variable "purpose" {
  description = "What the sandbox is for; recorded as the record's purpose."
  type        = string
  default     = "agent"
}

variable "timeout" {
  description = "The longest any one command in the sandbox may run."
  type        = string
  default     = "5m"
}

variable "ports" {
  description = "Ports the sandbox exposes. Changing them replaces the sandbox."
  type        = list(number)
  default     = null
}

variable "desired_state" {
  description = "running or stopped."
  type        = string
  default     = "running"
}

resource "sandbox_sandbox" "this" {
  purpose       = var.purpose
  timeout       = var.timeout
  ports         = var.ports
  desired_state = var.desired_state
  params        = jsonencode({ module = "agent-sandbox" })
}

# Runs once per sandbox, at apply time: a sandbox that cannot run a command fails the apply.
resource "sandbox_command" "probe" {
  sandbox_id = sandbox_sandbox.this.id
  command    = ["sh", "-c", "echo ok"]
}

data "sandbox_record" "this" {
  id = sandbox_sandbox.this.id
}

data "sandbox_records" "active" {
  purpose = var.purpose
  status  = "active"

  # Read after the sandbox exists, not at plan time.
  depends_on = [sandbox_sandbox.this]
}

output "id" {
  description = "The sandbox's record id: the id an application passes to getSandbox()."
  value       = sandbox_sandbox.this.id
}

output "record" {
  description = "The sandbox's record, with the data model's field names."
  value       = jsondecode(data.sandbox_record.this.attributes)
}

output "probe" {
  description = "What the probe command printed."
  value       = trimspace(sandbox_command.probe.stdout)
}
