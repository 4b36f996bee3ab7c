#!/usr/bin/env bash
# Checks (and, as root with apt-get, installs) what the provider's quick start and tests need on Debian/Ubuntu.
# Usage: scripts/ensure-deps.sh [--tests]   (--tests also wants the PostgreSQL server binaries)
#        scripts/ensure-deps.sh --terraform-1.14
#   prints the path of a terraform >= 1.14 for the tests of list resources and resource identity: the one on
#   PATH when it is new enough, else a build from source cached in the user cache (scripts/build-terraform.sh,
#   several minutes the first time on a machine, then instant).
set -euo pipefail

# terraform_minor prints "major minor" of a terraform binary.
terraform_minor() {
  "$1" version 2>/dev/null | sed -n 's/^Terraform v\([0-9][0-9]*\)\.\([0-9][0-9]*\)\..*/\1 \2/p'
}

if [ "${1:-}" = "--terraform-1.14" ]; then
  if tf="$(command -v terraform)"; then
    read -r major minor <<<"$(terraform_minor "$tf") "
    if [ "${major:-0}" -gt 1 ] || { [ "${major:-0}" = 1 ] && [ "${minor:-0}" -ge 14 ]; }; then
      echo "$tf"
      exit 0
    fi
  fi
  exec "$(dirname "$0")/build-terraform.sh"
fi

want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1

missing_pkgs=()
need() { # need <command-or-path> <debian package> <what for>
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then missing_pkgs+=("$2"); fi
}

if ! command -v go >/dev/null 2>&1; then
  echo "error: Go is not installed or not on PATH: install Go 1.24 or newer from https://go.dev/dl/ and add it to PATH." >&2
  exit 1
fi
if ! command -v terraform >/dev/null 2>&1 && [ -z "${TF_ACC_TERRAFORM_PATH:-}" ]; then
  echo "error: terraform is not on PATH: install Terraform 1.11 or newer (https://developer.hashicorp.com/terraform/install)." >&2
  exit 1
fi

need bwrap bubblewrap "the local engine's isolation"
if [ "$want_tests" = 1 ]; then
  pg_found=0
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && pg_found=1; done
  command -v initdb >/dev/null 2>&1 && pg_found=1
  [ "$pg_found" = 1 ] || missing_pkgs+=(postgresql)
  # The kill test counts records and reads states with them.
  need sqlite3 sqlite3 "the kill test's record counts"
  need jq jq "the kill test's state reads"
fi

if [ "${#missing_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${missing_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The tests start their own throwaway PostgreSQL servers: the package's default cluster is not needed.
    mkdir -p /etc/postgresql-common/createcluster.d
    [ -e /etc/postgresql-common/createcluster.d/00-sandbox-tests.conf ] ||
      echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/00-sandbox-tests.conf
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
    # The Debian package starts a cluster of its own; the tests start their own servers and need none.
    if printf '%s\n' "${missing_pkgs[@]}" | grep -qx postgresql; then
      (service postgresql stop >/dev/null 2>&1 || true)
    fi
  else
    echo "error: missing packages: ${missing_pkgs[*]}" >&2
    echo "install them with: sudo apt-get install ${missing_pkgs[*]}" >&2
    echo "(bubblewrap isolates the local engine's commands; without it set isolation = \"none\" in the provider's local block)" >&2
    exit 1
  fi
fi
