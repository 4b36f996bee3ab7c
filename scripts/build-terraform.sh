#!/usr/bin/env bash
# Builds terraform from the source the Go module proxy serves, once, into the
# user cache, and prints the binary's path. Used by ensure-deps.sh when the
# terraform on PATH is older than the version the 1.14-only tests need (list
# resources, resource identity, actions).
#
# The module zip of github.com/hashicorp/terraform leaves out its nested modules
# (the remote-state backends for azurerm, consul, cos, gcs, kubernetes, oci, oss,
# pg and s3, and internal/legacy), so those backends are dropped from the
# backend table and their require/replace lines from go.mod. The local, remote,
# cloud, http and inmem backends stay; nothing the tests do needs the others.
#
# The build has a Go build cache of its own (removed after a successful build: the binary is what is kept), so
# its cost is the same on every machine and it never evicts or competes with the project's build cache.
# Concurrent calls (two test runs) build once: the second waits on a lock and finds the binary.
#
# SANDBOX_TERRAFORM_CACHE moves the cache (default $XDG_CACHE_HOME/terraform-provider-sandbox/terraform, i.e.
# ~/.cache/...): pointing it at an empty directory measures a run on a machine without the cached build.
#
# Usage: scripts/build-terraform.sh [version]   (default 1.14.9)
set -euo pipefail

version="${1:-1.14.9}"
root="${SANDBOX_TERRAFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-sandbox/terraform}"
cache="$root/$version"
bin="$cache/terraform"
built() { [ -x "$bin" ] && "$bin" version 2>/dev/null | sed -n 1p | grep -q "Terraform v$version\$"; }
if built; then
  echo "$bin"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
if built; then # another run built it while this one waited
  echo "$bin"
  exit 0
fi

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
mod="github.com/hashicorp/terraform@v$version"
dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$dir" ] || { echo "build-terraform: the Go module proxy did not serve $mod" >&2; exit 1; }
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"

dropped='azure|consul|cos|gcs|kubernetes|oci|oss|pg|s3'
init=internal/backend/init/init.go
# Drop the imports of the nested remote-state backends and their table entries.
grep -Ev "internal/backend/remote-state/($dropped)\"" "$init" |
  grep -Ev "^[[:space:]]*\"($(echo "$dropped" | sed 's/azure/azurerm/'))\":[[:space:]]+func" > "$init.new"
mv "$init.new" "$init"
grep -Ev "github.com/hashicorp/terraform/internal/(backend/remote-state/($dropped)|legacy)[[:space:]]" go.mod > go.mod.new
mv go.mod.new go.mod

echo "build-terraform: building terraform $version from source (several minutes, once per machine)" >&2
export GOCACHE="$root/gocache"
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
  -ldflags "-s -w -X github.com/hashicorp/terraform/version.dev=no" \
  -o "$bin.tmp" .
mv "$bin.tmp" "$bin"
chmod -R u+w "$GOCACHE" 2>/dev/null || true
rm -rf "$GOCACHE"
"$bin" version | sed -n 1p >&2
echo "$bin"
