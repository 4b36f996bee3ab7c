#!/usr/bin/env bash
# Runs every `terraform test` suite of the repository (modules under tests/ and examples/ that have *.tftest.hcl
# files, beside their .tf files or in their tests/ folder) against the provider built from this tree, on the
# local engine.
#
# Terraform uses a CLI configuration of its own (TF_CLI_CONFIG_FILE) whose dev_overrides entry points
# registry.terraform.io/ekairos/sandbox at the fresh build: ~/.terraformrc and the Registry are never used, and
# `terraform test` needs no `terraform init` for this provider (modules that call other modules or providers are
# initialised first, which needs the network for anything not local).
# Each suite runs in a temporary copy of its module, so the records and sandboxes the suite makes (its provider
# block points sqlite_path and local.root at a scratch directory relative to where the test runs) land in the
# temporary directory and go away with it.
# Usage: scripts/tftest.sh [terraform test flags, e.g. -filter=tests/agent_sandbox.tftest.hcl -verbose]
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${TF_ACC_TERRAFORM_PATH:-}" ]; then
  PATH="$(dirname "$TF_ACC_TERRAFORM_PATH"):$PATH"
fi
command -v terraform >/dev/null 2>&1 || { echo "error: terraform is not on PATH" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/bin"
go build -o "$tmp/bin/terraform-provider-sandbox" .
cat >"$tmp/terraformrc" <<CLI
provider_installation {
  dev_overrides {
    "registry.terraform.io/ekairos/sandbox" = "$tmp/bin"
  }
  direct {}
}
CLI
export TF_CLI_CONFIG_FILE="$tmp/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
# A suite's provider block sets its own paths; these only catch a suite that forgets to.
export SANDBOX_SQLITE_PATH="$tmp/fallback/records.db" SANDBOX_LOCAL_ROOT="$tmp/fallback/local"
export SANDBOX_PROVIDER=local SANDBOX_RECORDS=sqlite
unset SANDBOX_LOCAL_ISOLATION

mapfile -t modules < <(
  find tests examples -name '*.tftest.hcl' -not -path '*/.terraform/*' 2>/dev/null |
    while read -r f; do
      d=$(dirname "$f")
      [ "$(basename "$d")" = tests ] && [ -n "$(find "$(dirname "$d")" -maxdepth 1 -name '*.tf' -print -quit)" ] && d=$(dirname "$d")
      echo "$d"
    done | sort -u
)
if [ "${#modules[@]}" = 0 ]; then
  echo "no terraform test suites found"
  exit 0
fi

fail=0
for mod in "${modules[@]}"; do
  work="$tmp/work/$mod"
  mkdir -p "$work"
  # The module without its local state, .terraform or scratch data.
  tar -C "$mod" --exclude=.terraform --exclude=.sandbox-test --exclude='*.tfstate' --exclude='*.tfstate.*' \
    --exclude=.terraform.lock.hcl -cf - . | tar -C "$work" -xf -
  echo "== terraform test: $mod"
  if grep -rqsE '^[[:space:]]*module[[:space:]]+"|^[[:space:]]*source[[:space:]]*=' --include='*.tf' --include='*.tftest.hcl' "$work" &&
    grep -rhsoE 'source[[:space:]]*=[[:space:]]*"[^"]+"' --include='*.tf' --include='*.tftest.hcl' "$work" | grep -qv 'ekairos/sandbox'; then
    terraform -chdir="$work" init -backend=false -input=false -no-color >/dev/null
  fi
  if ! terraform -chdir="$work" test -no-color "$@"; then
    fail=1
  fi
done
exit "$fail"
