#!/usr/bin/env bash
# Where the time of a terraform row goes: applies N sandboxes (default 100) and runs a refresh-only plan with
# TF_LOG=trace, and prints for each gRPC call of the provider how many there were and how long they took (from
# the provider's "Received request" / "Served request" log lines). With perf installed it also samples both
# runs and prints the CPU split between terraform and the provider, and the provider's heaviest functions.
# Trace logging slows the provider down: compare the calls with each other, not with `make bench`.
# Usage: bench/profile.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
work=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-profile.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/tf"
go build -o "$work/bin/terraform-provider-sandbox" .
cat >"$work/terraformrc" <<CLI
provider_installation {
  dev_overrides {
    "registry.terraform.io/ekairos/sandbox" = "$work/bin"
  }
  direct {}
}
CLI
export TF_CLI_CONFIG_FILE="$work/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export SANDBOX_SQLITE_PATH="$work/records.db" SANDBOX_LOCAL_ROOT="$work/local"
cat >"$work/tf/main.tf" <<TF
terraform {
  required_providers {
    sandbox = { source = "ekairos/sandbox" }
  }
}

provider "sandbox" {}

resource "sandbox_sandbox" "s" {
  count   = $n
  purpose = "profile"
}
TF

# rpcs LOG: count, total, median and max duration of each provider RPC in a trace log
rpcs() {
  awk '
    function ts(s,   d, t) { d = substr(s, 12, 12); split(d, t, ":"); return t[1] * 3600 + t[2] * 60 + t[3] }
    /Received request|Served request/ {
      if (!match($0, /tf_req_id=[^ ]+/)) next
      id = substr($0, RSTART, RLENGTH)
      if (!match($0, /tf_rpc=[A-Za-z]+/)) next
      rpc = substr($0, RSTART + 7, RLENGTH - 7)
      if ($0 ~ /Received request/) start[id] = ts($1)
      else if (id in start) { d = ts($1) - start[id]; n[rpc]++; sum[rpc] += d; all[rpc, n[rpc]] = d; if (d > mx[rpc]) mx[rpc] = d; delete start[id] }
    }
    END {
      printf "%-28s %6s %10s %10s %10s\n", "rpc", "calls", "total s", "median ms", "max ms"
      for (r in n) {
        m = n[r]; for (i = 1; i <= m; i++) v[i] = all[r, i]
        for (i = 2; i <= m; i++) { x = v[i]; j = i - 1; while (j > 0 && v[j] > x) { v[j + 1] = v[j]; j-- } v[j + 1] = x }
        printf "%-28s %6d %10.3f %10.1f %10.1f\n", r, m, sum[r], v[int((m + 1) / 2)] * 1000, mx[r] * 1000
      }
    }' "$1"
}

run() { # run NAME terraform-args...
  local name=$1
  shift
  local t0 t1
  t0=$(date +%s%N)
  if command -v perf >/dev/null 2>&1; then
    TF_LOG=trace TF_LOG_PATH="$work/$name.log" perf record -q -g -F 999 -o "$work/$name.perf" -- \
      terraform -chdir="$work/tf" "$@" -input=false -no-color >/dev/null 2>&1
  else
    TF_LOG=trace TF_LOG_PATH="$work/$name.log" terraform -chdir="$work/tf" "$@" -input=false -no-color >/dev/null
  fi
  t1=$(date +%s%N)
  echo "== $name: terraform $* ($n sandboxes, TF_LOG=trace): $(((t1 - t0) / 1000000)) ms"
  rpcs "$work/$name.log"
  if [ -f "$work/$name.perf" ]; then
    echo "-- CPU samples by process"
    perf report -i "$work/$name.perf" --no-children --sort comm --stdio -g none 2>/dev/null | grep '%' | head -4
    echo "-- the provider's heaviest functions (inclusive)"
    perf report -i "$work/$name.perf" --comm terraform-provi --children --sort symbol --stdio -g none 2>/dev/null |
      grep '%' | grep -E 'ekairos|hclog|Semantic|ModifyPlan|generateCert|sqlite|fsync|ReadResource|ApplyResourceChange|PlanResourceChange' | head -20 | cut -c1-150
  fi
  echo
}

run apply apply -auto-approve -parallelism=10
run refresh plan -refresh-only
