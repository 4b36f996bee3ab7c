terraform {
  required_providers {
    sandbox = {
      source = "ekairos/sandbox"
    }
  }
}

variable "instant_admin_token" {
  type      = string
  sensitive = true
}

provider "sandbox" {
  records = "instantdb" # or SANDBOX_RECORDS

  instantdb {
    app_id      = "0b7c5d6e-2f1a-4c3b-9d8e-7f6a5b4c3d2e" # or INSTANT_APP_ID / NEXT_PUBLIC_INSTANT_APP_ID
    admin_token = var.instant_admin_token                # or INSTANT_APP_ADMIN_TOKEN
  }
}
