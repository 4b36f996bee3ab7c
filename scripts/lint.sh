#!/usr/bin/env bash
# Runs golangci-lint (configuration: .golangci.yml) on the whole module. The pinned version is installed into
# ./.cache/bin through the Go module proxy the first time (and whenever the pin changes); later runs reuse it and
# golangci-lint's own cache.
# Usage: scripts/lint.sh [golangci-lint run flags, e.g. --fix or ./internal/provider/...]
set -euo pipefail
cd "$(dirname "$0")/.."

version=v2.15.0
bin="$(pwd)/.cache/bin"
lint="$bin/golangci-lint"

if ! [ -x "$lint" ] || ! "$lint" version 2>/dev/null | grep -q "version ${version#v} "; then
  echo "installing golangci-lint $version into $bin"
  mkdir -p "$bin"
  GOBIN="$bin" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
fi

export GOLANGCI_LINT_CACHE="${GOLANGCI_LINT_CACHE:-$(pwd)/.cache/golangci-lint}"
"$lint" config verify
exec "$lint" run "$@"
