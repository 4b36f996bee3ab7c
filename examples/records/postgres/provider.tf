terraform {
  required_providers {
    sandbox = {
      source = "ekairos/sandbox"
    }
  }
}

variable "records_database_url" {
  description = "postgres://user:password@host:5432/db?sslmode=require"
  type        = string
  sensitive   = true
}

provider "sandbox" {
  records = "postgres" # or SANDBOX_RECORDS

  postgres {
    url    = var.records_database_url # or SANDBOX_POSTGRES_URL
    schema = "sandboxes"              # or SANDBOX_POSTGRES_SCHEMA; default public
  }
}
