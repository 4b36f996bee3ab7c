terraform {
  required_providers {
    sandbox = {
      source = "ekairos/sandbox"
    }
  }
}

# Every setting is optional and falls back to an environment variable. With nothing set, sandboxes run on the
# local engine (bubblewrap on this machine) and their records go to a SQLite file under
# $XDG_DATA_HOME/terraform-provider-sandbox/ (~/.local/share/... when XDG_DATA_HOME is unset), unless the
# environment holds a PostgreSQL URL or InstantDB credentials: then records go there.
provider "sandbox" {
  backend = "local"  # or SANDBOX_PROVIDER
  records = "sqlite" # or SANDBOX_RECORDS

  # sqlite_path = "/var/lib/sandbox/records.db" # or SANDBOX_SQLITE_PATH

  # The configuration that owns the records (adoption after a killed apply, and what sweep may remove). Default:
  # this configuration's directory and workspace; set it when one configuration is applied from several places.
  # scope = "infra/sandboxes#prod" # or SANDBOX_SCOPE

  # Labels of every resource (each resource's own labels win), recorded as params.labels of its record.
  default_labels = {
    team = "platform"
  }

  local {
    isolation = "bwrap" # or SANDBOX_LOCAL_ISOLATION; "none" only on machines without bubblewrap
    # root    = "/var/lib/sandbox/local" # or SANDBOX_LOCAL_ROOT
  }
}
