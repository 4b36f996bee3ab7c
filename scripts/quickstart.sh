#!/usr/bin/env bash
# The quick start: builds the provider, then runs a real `terraform apply` of examples/quickstart on the local
# engine with SQLite records, and prints the sandbox's record id and the output of a command run in it.
# Uses its own Terraform CLI configuration (dev_overrides to the local build); ~/.terraformrc is not read.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh

top=$(pwd)
bin="$top/.cache/bin"
mkdir -p "$bin"
echo "building the provider..."
go build -o "$bin/terraform-provider-sandbox" .

cli="$top/.cache/terraformrc"
cat >"$cli" <<CLI
provider_installation {
  dev_overrides {
    "registry.terraform.io/ekairos/sandbox" = "$bin"
  }
  direct {}
}
CLI
export TF_CLI_CONFIG_FILE="$cli" CHECKPOINT_DISABLE=1

cd examples/quickstart
terraform apply -auto-approve -input=false -compact-warnings
echo
echo "record id:       $(terraform output -raw sandbox_id)"
echo "command output:  $(terraform output -raw hello)"
echo "records file:    ${SANDBOX_SQLITE_PATH:-${XDG_DATA_HOME:-$HOME/.local/share}/terraform-provider-sandbox/records.db}"
echo
echo "To destroy it:   TF_CLI_CONFIG_FILE=$cli terraform -chdir=examples/quickstart destroy"
