#!/usr/bin/env bash
# Regenerates docs/ from the provider schema, examples/ and templates/ (go generate ./... runs tfplugindocs),
# fails when the result differs from what is committed, and runs `tfplugindocs validate` (the Registry's checks).
#
# tfplugindocs builds the provider and reads its schema with `terraform init -plugin-dir` and
# `terraform providers schema -json`. Without --tf-version it looks for `terraform` on PATH (hc-install's
# fs.AnyVersion) and only when there is none downloads the latest release; this script never lets it download:
# it uses the terraform on PATH, or the one TF_ACC_TERRAFORM_PATH names, and fails when there is neither.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${TF_ACC_TERRAFORM_PATH:-}" ]; then
  PATH="$(dirname "$TF_ACC_TERRAFORM_PATH"):$PATH"
fi
if ! command -v terraform >/dev/null 2>&1; then
  echo "error: terraform is not on PATH (set TF_ACC_TERRAFORM_PATH or install Terraform 1.11+);" \
    "tfplugindocs would otherwise try to download it" >&2
  exit 1
fi
# The schema of list resources and resource identities is in `terraform providers schema -json` only from
# Terraform 1.14 (1.12 for identities): an older terraform would render docs without them. Use the one on PATH when
# it is new enough, else the cached build (scripts/ensure-deps.sh --terraform-1.14, built once).
tf_minor=$(terraform version | sed -n 's/^Terraform v1\.\([0-9][0-9]*\)\..*/\1/p')
if [ "${tf_minor:-0}" -lt 14 ]; then
  tf114=$(scripts/ensure-deps.sh --terraform-1.14)
  PATH="$(dirname "$tf114"):$PATH"
fi
# Never read the machine's CLI configuration (dev_overrides there would change what init does), never phone home.
export CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null
export PATH

echo "generating docs with $(command -v terraform) ($(terraform version | sed -n 1p))"
go generate ./...

echo "validating docs/"
go run github.com/hashicorp/terraform-plugin-docs/cmd/tfplugindocs validate --provider-name sandbox

fail=0

# Every environment variable the provider reads (the Env* constants of internal/provider) is documented in the
# provider page's table: the page is a template, so tfplugindocs cannot see a new one by itself.
env_vars=$(grep -ho '^[[:space:]]*Env[A-Za-z0-9_]*[[:space:]]*=[[:space:]]*"[A-Z0-9_]*"' internal/provider/*.go |
  sed 's/.*"\(.*\)"/\1/' | sort -u)
for v in $env_vars; do
  if ! grep -q "| \`$v\` |" templates/index.md.tmpl; then
    echo "error: $v (read in internal/provider) is missing from the environment variables table of templates/index.md.tmpl" >&2
    fail=1
  fi
done

# Every resource, data source and ephemeral resource should have an example (docs/ is rendered from them). A
# warning, not a failure: a type may land before its example.
for page in docs/resources/*.md docs/data-sources/*.md docs/ephemeral-resources/*.md; do
  [ -f "$page" ] || continue
  kind=$(basename "$(dirname "$page")")
  name="sandbox_$(basename "$page" .md)"
  case "$kind" in
    resources) want="examples/resources/$name/resource.tf" ;;
    data-sources) want="examples/data-sources/$name/data-source.tf" ;;
    ephemeral-resources) want="examples/ephemeral-resources/$name/ephemeral-resource.tf" ;;
  esac
  if ! ls "$(dirname "$want")"/"$(basename "$want" .tf)"*.tf >/dev/null 2>&1; then
    echo "warning: $name has no example: add $want (it is rendered into $page and checked by scripts/check-examples.sh)" >&2
  fi
done

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  untracked=$(git ls-files --others --exclude-standard -- docs/)
  if ! git diff --exit-code --stat -- docs/ || [ -n "$untracked" ]; then
    if [ -n "$untracked" ]; then
      echo "new files in docs/ that are not committed:"
      printf '  %s\n' $untracked
    fi
    echo "error: docs/ is out of date with the schema, examples/ or templates/." >&2
    echo "Run \`go generate ./...\` (or \`make generate\`) and commit docs/." >&2
    fail=1
  fi
else
  echo "warning: not a git work tree: regenerated docs/ but cannot compare it with what is committed" >&2
fi

if [ "$fail" = 0 ]; then
  echo "docs/ is up to date"
fi
exit "$fail"
