#!/usr/bin/env bash
# Checks (and, as root with apt-get, installs) what the provider's quick start and tests need on Debian/Ubuntu.
# Usage: scripts/ensure-deps.sh [--tests]   (--tests also wants the PostgreSQL server binaries)
#        scripts/ensure-deps.sh --terraform-1.14
#   prints the path of a terraform >= 1.14 for the tests of list resources and resource identity: the one on
#   PATH when it is new enough, else a build from source cached in the user cache (scripts/build-terraform.sh,
#   several minutes the first time on a machine, then instant).
#        scripts/ensure-deps.sh --vm   (see below: qemu, a kernel and busybox for scripts/vm-cgroup2-test.sh)
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

# --vm: what scripts/vm-cgroup2-test.sh needs to boot a Linux VM whose pids and memory controllers are on cgroup v2:
# qemu (installed with apt-get as root), and a Debian cloud kernel and a static busybox, downloaded once with
# `apt-get download` (nothing is installed on the host) and kept in the user cache. Prints that cache directory;
# exits 77 with the reason on stderr when they cannot be had (not root without qemu, no apt, no network).
if [ "${1:-}" = "--vm" ]; then
  vm="${SANDBOX_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-sandbox/vm}"
  mkdir -p "$vm"
  exec 9>"$vm/.lock"
  flock 9
  skip() { echo "cannot boot the cgroup v2 VM: $*" >&2; exit 77; }
  if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing: qemu-system-x86" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null 2>&1 || true
      apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null 2>&1 ||
        skip "apt-get install qemu-system-x86 failed"
    else
      skip "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
    fi
  fi
  if [ ! -s "$vm/vmlinuz" ] || [ ! -x "$vm/busybox" ]; then
    command -v apt-get >/dev/null 2>&1 || skip "no apt-get to download a kernel and busybox-static with"
    kpkg() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -1; }
    pkg="$(kpkg)"
    if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
      apt-get update -qq >/dev/null 2>&1 || true
      pkg="$(kpkg)"
    fi
    [ -n "$pkg" ] || skip "apt knows no linux-image-cloud-amd64 (run apt-get update)"
    dl="$(mktemp -d)"
    trap 'rm -rf "$dl"' EXIT
    (cd "$dl" && apt-get download "$pkg" busybox-static >/dev/null 2>&1) || skip "apt-get download $pkg busybox-static failed"
    for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$dl/x"; done
    kernel="$(ls "$dl"/x/boot/vmlinuz-* 2>/dev/null | head -1)"
    [ -n "$kernel" ] && [ -x "$dl/x/bin/busybox" ] || skip "the downloaded packages have no kernel or busybox"
    cp "$kernel" "$vm/vmlinuz.new" && mv "$vm/vmlinuz.new" "$vm/vmlinuz"
    cp "$dl/x/bin/busybox" "$vm/busybox.new" && mv "$vm/busybox.new" "$vm/busybox"
    echo "$pkg" >"$vm/kernel-package"
  fi
  echo "$vm"
  exit 0
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
