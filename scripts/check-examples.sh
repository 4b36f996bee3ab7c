#!/usr/bin/env bash
# Checks that the examples (which are also the docs' examples) are right:
#   1. every .tf and .tftest.hcl under examples/ and tests/ is `terraform fmt` clean;
#   2. every directory of examples/ that holds .tf files passes `terraform validate` against the provider built
#      from this tree;
#   3. unless EXAMPLES_APPLY=0, every such directory is applied, planned again (the plan must be empty: no
#      perpetual diff) and destroyed: the local engine's on this machine, the hosted engines' (daytona, vercel,
#      sprites) and the InstantDB and PostgreSQL stores' against the project's fakes
#      (internal/testfakes/cmd/fakeservers, which also starts a PostgreSQL server from the installed binaries),
#      whose credentials are exported from the env files it writes. After a hosted example's destroy, the fake
#      must hold nothing. import*.tf files are left out of the apply (they name a record id that does not exist
#      here). There is no way to skip an example.
#   4. import-by-identity*.tf (Terraform 1.12+) is validated only by a terraform that knows import identities, and
#      *.tfquery.hcl (list blocks, Terraform 1.14+) by `terraform validate -query` of a terraform >= 1.14 (they are
#      what `terraform query` reads, never applied). scripts/test.sh runs this script once more under its
#      terraform 1.14 with EXAMPLES_APPLY=newer: every directory is validated, and the ones that need a newer
#      terraform (a .terraform-min-version file: the sandbox_run action) are applied, planned and destroyed.
#
# Terraform uses a CLI configuration of its own (TF_CLI_CONFIG_FILE) with a dev_overrides entry for
# registry.terraform.io/ekairos/sandbox pointing at the fresh build, so neither ~/.terraformrc nor the Registry is
# used. With dev_overrides, validate/plan/apply need no `terraform init` for this provider; `init` runs only in
# directories that call modules or other providers, and those need the network.
# Records and local sandboxes go to a temporary directory (SANDBOX_SQLITE_PATH, SANDBOX_LOCAL_ROOT), never to
# the user's data directory, and the engine and store are pinned to local and SQLite so that a PostgreSQL URL or
# InstantDB credentials in the environment are never written to.
#
# Examples show only what a user writes in their own configuration. A directory without a required_providers
# block gets a generated one (in the temporary copy) so that `sandbox_*` resolves to ekairos/sandbox, not to
# hashicorp/sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${TF_ACC_TERRAFORM_PATH:-}" ]; then
  PATH="$(dirname "$TF_ACC_TERRAFORM_PATH"):$PATH"
fi
command -v terraform >/dev/null 2>&1 || { echo "error: terraform is not on PATH" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-examples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The CLI configuration is written before anything else so that even `terraform fmt` never reads ~/.terraformrc.
mkdir -p "$tmp/bin"
cat >"$tmp/terraformrc" <<CLI
provider_installation {
  dev_overrides {
    "registry.terraform.io/ekairos/sandbox" = "$tmp/bin"
  }
  direct {}
}
CLI
export TF_CLI_CONFIG_FILE="$tmp/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
export SANDBOX_SQLITE_PATH="$tmp/data/records.db" SANDBOX_LOCAL_ROOT="$tmp/data/local"
export SANDBOX_PROVIDER=local SANDBOX_RECORDS=sqlite
unset SANDBOX_LOCAL_ISOLATION

fail=0
fmt_dirs=(examples)
[ -d tests ] && fmt_dirs+=(tests)
echo "terraform fmt -check: ${fmt_dirs[*]}"
if ! terraform fmt -check -recursive -diff "${fmt_dirs[@]}"; then
  echo "error: run \`terraform fmt -recursive ${fmt_dirs[*]}\`" >&2
  fail=1
fi

echo "building the provider"
go build -o "$tmp/bin/terraform-provider-sandbox" .

apply=${EXAMPLES_APPLY:-1}
fakes_pid=
if [ "$apply" != 0 ]; then
  echo "starting the fakes (daytona, vercel, sprites, InstantDB, PostgreSQL)"
  go build -o "$tmp/fakeservers" ./internal/testfakes/cmd/fakeservers
  "$tmp/fakeservers" -out "$tmp/fakes" -root "$tmp/fakes-root" -postgres >"$tmp/fakeservers.log" 2>&1 &
  fakes_pid=$!
  trap 'kill "$fakes_pid" 2>/dev/null; wait "$fakes_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
  for _ in $(seq 1 600); do
    [ -f "$tmp/fakes/control.env" ] && break
    kill -0 "$fakes_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ ! -f "$tmp/fakes/control.env" ]; then
    echo "error: the fakes did not start:" >&2
    cat "$tmp/fakeservers.log" >&2
    exit 1
  fi
  # The hosted engines' and stores' credentials point at the fakes; SANDBOX_RECORDS (sqlite) stays the
  # default, so only the examples that name a store use it.
  # KEY=value lines, read as data (a value may hold shell characters such as & or ?).
  for f in daytona vercel sprites instantdb postgres control; do
    while IFS= read -r line; do
      [ -n "$line" ] && export "${line%%=*}=${line#*=}"
    done <"$tmp/fakes/$f.env"
  done
  # The examples' variables: dummies that only the fakes accept.
  export TF_VAR_github_token="ghp_examples_token_for_the_fakes"
  export TF_VAR_instant_admin_token="$INSTANT_APP_ADMIN_TOKEN"
  export TF_VAR_records_database_url="$SANDBOX_POSTGRES_URL"
fi

# run <what> <terraform args...>: terraform in the example's temporary copy, quiet on success, its output on failure.
run() {
  if ! terraform -chdir="$work" "${@:2}" >"$tmp/log" 2>&1; then
    echo "FAIL  $dir: $1" >&2
    sed 's/^/      /' "$tmp/log" >&2
    return 1
  fi
}

# An example of a feature that needs a newer Terraform (actions: 1.14) says so in a .terraform-min-version file; with
# an older terraform it is only fmt-checked (above) and reported as skipped, with the newer one it is applied.
tf_version=$(terraform version -json | sed -n 's/.*"terraform_version": *"\([0-9.]*\).*/\1/p')
older_than() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$1" ] && [ "$1" != "$2" ]; }
tf_minor=$(terraform version | sed -n 's/^Terraform v1\.\([0-9][0-9]*\)\..*/\1/p')
tf_minor=${tf_minor:-0}
mapfile -t dirs < <(find examples \( -name '*.tf' -o -name '*.tfquery.hcl' \) -not -path '*/.terraform/*' -printf '%h\n' | sort -u)
for dir in "${dirs[@]}"; do
  if [ -f "$dir/.terraform-min-version" ] && older_than "$tf_version" "$(cat "$dir/.terraform-min-version")"; then
    echo "skip  $dir (needs terraform >= $(cat "$dir/.terraform-min-version"); this is $tf_version)"
    continue
  fi
  work="$tmp/work/$dir"
  mkdir -p "$work"
  find "$dir" -maxdepth 1 -type f \( -name '*.tf' -o -name '*.tfvars' -o -name '*.json' -o -name '*.tpl' -o -name '*.tfquery.hcl' \) \
    -exec cp {} "$work/" \;
  # import-by-identity*.tf is validated on its own below: it may import the same resource as import-by-string-id.tf.
  rm -f "$work"/import-by-identity*.tf
  validate_args=(-no-color)
  if [ "$tf_minor" -ge 14 ]; then
    validate_args+=(-query)
  else
    rm -f "$work"/*.tfquery.hcl
  fi
  query_only=0
  if ! ls "$work"/*.tf >/dev/null 2>&1; then
    if ! ls "$work"/*.tfquery.hcl >/dev/null 2>&1; then
      echo "ok    $dir (needs terraform >= 1.14: validated by scripts/test.sh's second pass)"
      continue
    fi
    query_only=1 # list blocks only: validated, nothing to apply
  fi
  if ! grep -qs 'required_providers' "$work"/*.tf; then
    cat >"$work/zz_check_examples_providers.tf" <<'TF'
terraform {
  required_providers {
    sandbox = {
      source = "ekairos/sandbox"
    }
  }
}
TF
  fi
  # init only where something besides this provider must be installed: modules or other providers.
  needs_init=0
  if grep -qsE '^[[:space:]]*module[[:space:]]+"' "$work"/*.tf ||
    grep -hsoE 'source[[:space:]]*=[[:space:]]*"[^"]+"' "$work"/*.tf | grep -qv 'ekairos/sandbox'; then
    needs_init=1
  fi
  if [ "$needs_init" = 1 ] && ! run "init" init -backend=false -input=false -no-color; then
    fail=1
    continue
  fi
  if ! run "validate" validate "${validate_args[@]}"; then
    fail=1
    continue
  fi
  if [ "$tf_minor" -ge 12 ] && ls "$dir"/import-by-identity*.tf >/dev/null 2>&1; then
    rm -f "$work"/import*.tf
    cp "$dir"/import-by-identity*.tf "$work/"
    if ! run "validate (import by identity)" validate "${validate_args[@]}"; then
      fail=1
      continue
    fi
  fi
  if [ "$apply" = 0 ] || [ "$query_only" = 1 ] || { [ "$apply" = newer ] && [ ! -f "$dir/.terraform-min-version" ]; }; then
    echo "ok    $dir (validate)"
    continue
  fi
  rm -f "$work"/import*.tf "$work"/*.tfquery.hcl
  if ! run "apply" apply -auto-approve -input=false -no-color; then
    run "destroy after failed apply" destroy -auto-approve -input=false -no-color || true
    fail=1
    continue
  fi
  ok=1
  run "plan after apply is not empty" plan -detailed-exitcode -input=false -no-color || ok=0
  run "destroy" destroy -auto-approve -input=false -no-color || ok=0
  # A hosted example leaves nothing on its fake.
  engine=$(basename "$dir")
  case "$engine" in daytona | vercel | sprites)
    left=$("$tmp/fakeservers" -get "$FAKESERVERS_URL/count?engine=$engine" 2>&1 || echo "?")
    if [ "$left" != 0 ]; then
      echo "FAIL  $dir: $left object(s) left on the $engine fake after destroy" >&2
      ok=0
    fi
    ;;
  esac
  if [ "$ok" = 0 ]; then
    fail=1
    continue
  fi
  echo "ok    $dir (validate, apply, empty plan, destroy)"
done

if [ "$fail" != 0 ]; then
  echo "examples check failed" >&2
  exit 1
fi
echo "examples are fmt clean, valid$([ "$apply" = 0 ] || echo ", and apply cleanly (local engine, and the hosted engines and stores on their fakes)")"
