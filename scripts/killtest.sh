#!/usr/bin/env bash
# Kill test: proves that applies killed outright leave nothing behind that sweep and the next apply cannot clean.
#
#   1. Build the provider; a configuration of several sandboxes, each with a sandbox_command, on the local engine
#      with SQLite records, all in a temporary directory (own TF_CLI_CONFIG_FILE with dev_overrides).
#   2. KILLTEST_KILLS times (default 5): start `terraform apply`, sleep a random 0.2-3 s, then SIGKILL terraform
#      AND its provider child (and anything else it started) at once.
#   3. sweep (./cmd/sweep; dry run, printed), then sweep -apply -state terraform.tfstate. -state gives sweep the
#      only state that uses these records, so that sandboxes the kills left out of it (an apply killed after a
#      create finished but before Terraform saved it, or while Terraform rewrote the whole state file, which
#      the local backend does by truncating it first) are removed too.
#   4. `terraform apply` (must succeed), `terraform plan -detailed-exitcode` (must be empty), `terraform destroy`;
#      then: no engine object (the local root's sandboxes directory is empty) and no creating, active or error
#      sandbox record.
#   5. SIGINT (a graceful stop, as Ctrl-C): start an apply, send SIGINT to terraform once, wait; the next apply must
#      converge WITHOUT sweep (then plan is empty, destroy, and the same final checks).
#
# The kill times come from bash's RANDOM seeded with KILLTEST_SEED (printed at the start): a failure is
# reproduced with the same seed (timings still vary with the machine's speed).
#
# A SIGKILLed terraform leaves .terraform.tfstate.lock.info behind. With the local backend the lock itself is an
# fcntl lock that the kernel releases when the process dies, so the file is stale and the next command takes the
# lock; should a command still report "Error acquiring the state lock", this script does what a user would do
# after checking that no terraform runs: it removes the stale lock file and runs the command again (with a
# remote backend: `terraform force-unlock <ID>`).
#
# Environment: KILLTEST_SEED, KILLTEST_KILLS (5), KILLTEST_SANDBOXES (8), KILLTEST_KEEP=1 keeps the work dir.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

seed=${KILLTEST_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
kills=${KILLTEST_KILLS:-5}
nsb=${KILLTEST_SANDBOXES:-8}
RANDOM=$seed
echo "kill test: seed $seed (KILLTEST_SEED=$seed reproduces the kill times), $kills kills, $nsb sandboxes"
t_start=$(date +%s%N)

work=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-killtest.XXXXXX")
cleanup() {
  # Nothing this script started may outlive it.
  for p in $(jobs -p); do kill -9 "$p" 2>/dev/null || true; done
  if [ "${KILLTEST_KEEP:-0}" = 1 ]; then echo "kill test: work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

bin="$work/bin"
mkdir -p "$bin" "$work/tf"
go build -o "$bin/terraform-provider-sandbox" .
cat >"$work/terraformrc" <<CLI
provider_installation {
  dev_overrides {
    "registry.terraform.io/ekairos/sandbox" = "$bin"
  }
  direct {}
}
CLI
export TF_CLI_CONFIG_FILE="$work/terraformrc" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export SANDBOX_SQLITE_PATH="$work/records.db" SANDBOX_LOCAL_ROOT="$work/local"
if command -v bwrap >/dev/null 2>&1; then
  export SANDBOX_LOCAL_ISOLATION=bwrap
else
  export SANDBOX_LOCAL_ISOLATION=none
fi
unset TF_LOG TF_LOG_PATH
sandboxes_dir="$work/local/sandboxes"
tfd="$work/tf"

cat >"$tfd/main.tf" <<TF
terraform {
  required_providers {
    sandbox = { source = "ekairos/sandbox" }
  }
}

provider "sandbox" {}

variable "round" {
  type = string
}

# Every round replaces the previous round's sandboxes, so that each killed apply is busy destroying, creating
# and running commands.
resource "sandbox_sandbox" "s" {
  for_each = toset([for i in range($nsb) : "\${var.round}-\${i}"])
  purpose  = "killtest"
  timeout  = "2m"
  env      = { INDEX = split("-", each.key)[1] }
}

resource "sandbox_command" "c" {
  for_each   = sandbox_sandbox.s
  sandbox_id = each.value.id
  command    = ["sh", "-c", "sleep 0.\$INDEX; echo ran in \$INDEX > marker; cat marker"]
}
TF

fail() {
  echo "kill test: FAIL: $*" >&2
  echo "kill test: seed $seed; work directory $work (set KILLTEST_KEEP=1 to keep it)" >&2
  exit 1
}

# sweep is ./cmd/sweep built once: what `go run ./cmd/sweep` runs, without relinking it for every call and with
# its exit status intact (go run turns any non-zero exit into 1; a dry run that finds something exits 3).
go build -o "$bin/sweep" ./cmd/sweep
sweep() { "$bin/sweep" "$@"; }

# tf ARGS...: terraform in the test directory; a stale state lock file is removed and the command run again.
tf() {
  local log="$work/tf.log"
  if terraform -chdir="$tfd" "$@" -input=false -no-color >"$log" 2>&1; then
    return 0
  else
    local rc=$?
    if grep -q "Error acquiring the state lock" "$log" && [ -e "$tfd/.terraform.tfstate.lock.info" ]; then
      echo "kill test: stale state lock left by the killed apply: removing $tfd/.terraform.tfstate.lock.info"
      rm -f "$tfd/.terraform.tfstate.lock.info"
      terraform -chdir="$tfd" "$@" -input=false -no-color >"$log" 2>&1 && return 0
      rc=$?
    fi
    tail -40 "$log" >&2
    return "$rc"
  fi
}

# descendants PID: every process below PID
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      found[root] = 1
      do {
        changed = 0
        for (i in pids) { p = pids[i]; if (!(p in found) && (parent[p] in found)) { found[p] = 1; changed = 1 } }
      } while (changed)
      for (p in found) if (p != root) print p
    }'
}

# counts: "objects=<n> creating=<n> active=<n> error=<n>" from the local root and the records (via sweep -json)
counts() {
  local objs=0 json
  if [ -d "$sandboxes_dir" ]; then objs=$(find "$sandboxes_dir" -mindepth 1 -maxdepth 1 -name 'local-*' | wc -l); fi
  json=$(sweep -json 2>/dev/null || true)
  printf 'objects=%s %s\n' "$objs" "$(printf '%s' "$json" | awk '
    /"records": \{/ {on = 1; next}
    on && /\}/ {on = 0}
    on { gsub(/[",]/, ""); sub(/:/, "="); printf "%s ", $1 $2 }')"
}

# assert_clean WHEN: no engine object and no non-terminal sandbox record
assert_clean() {
  local left c
  c=$(counts) # lists the engine first: the local engine removes the trash of interrupted deletes as it lists
  left=$(find "$sandboxes_dir" -mindepth 1 -maxdepth 1 2>/dev/null | grep -v '/\.new-' || true)
  [ -z "$left" ] || fail "$1: engine objects left in $sandboxes_dir: $left"
  if find "$sandboxes_dir" -mindepth 1 -maxdepth 1 -name '.new-*' 2>/dev/null | grep -q .; then
    echo "kill test: note: $1: a half-made .new-* directory of a create killed mid-rename is left (ListSandboxes removes it after an hour)"
  fi
  echo "kill test: $1: $c"
  if printf '%s' "$c" | grep -Eq '(creating|active|error)=[1-9]' || ! printf '%s' "$c" | grep -q 'active='; then
    sqlite3 "$SANDBOX_SQLITE_PATH" "select id, status, params from sandbox_sandboxes where status != 'shutdown'" >&2 2>/dev/null || true
    fail "$1: non-terminal sandbox records remain (or the records could not be read): $c"
  fi
}

ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# repair_state: a SIGKILL during Terraform's state write (truncate, then write) can leave a state file that is
# empty (Terraform reads it as an empty state) or cut short (Terraform refuses it). For the latter, do what a
# user would: go back to terraform.tfstate.backup when it is readable, else start from an empty state; sweep
# -state then treats the sandboxes the state lost as unmanaged.
repaired=0
repair_state() {
  local st="$tfd/terraform.tfstate"
  [ -s "$st" ] || return 0
  if terraform -chdir="$tfd" show -no-color >/dev/null 2>&1; then return 0; fi
  repaired=$((repaired + 1))
  mv "$st" "$work/terraform.tfstate.corrupt-$repaired"
  if [ -s "$tfd/terraform.tfstate.backup" ] && cp "$tfd/terraform.tfstate.backup" "$st" &&
    terraform -chdir="$tfd" show -no-color >/dev/null 2>&1; then
    echo "kill test: the state file was cut short by the kill: restored terraform.tfstate.backup"
  else
    : >"$st"
    echo "kill test: the state file was cut short by the kill and there is no readable backup: starting from an empty state"
  fi
}

# ---- SIGKILL rounds ---------------------------------------------------------------------------------------
finished_early=0
for i in $(seq 1 "$kills"); do
  delay_ms=$((200 + RANDOM % 2801))
  victims=""
  setsid terraform -chdir="$tfd" apply -auto-approve -input=false -no-color -compact-warnings -var "round=k$i" >"$work/kill-$i.log" 2>&1 &
  tfpid=$!
  t0=$(date +%s%N)
  sleep "$(awk -v ms="$delay_ms" 'BEGIN {printf "%.3f", ms / 1000}')"
  if kill -0 "$tfpid" 2>/dev/null; then
    victims=$(descendants "$tfpid" | tr '\n' ' ')
    # One kill(1) for the whole process group (setsid made terraform its leader) and every descendant by pid,
    # in case one left the group.
    kill -9 -- "-$tfpid" "$tfpid" $victims 2>/dev/null || true
    wait "$tfpid" 2>/dev/null || true
    what="killed terraform (pid $tfpid) and its children: ${victims:-none}"
  else
    wait "$tfpid" 2>/dev/null || true
    what="the apply had already finished"
    finished_early=$((finished_early + 1))
  fi
  echo "kill test: round $i: SIGKILL after ${delay_ms} ms: $what; now $(counts)"
  repair_state
  # Nothing of the killed run may still run (bwrap commands die with their provider).
  for v in $victims; do
    if kill -0 "$v" 2>/dev/null && [ "$(ps -o stat= -p "$v" | cut -c1)" != Z ]; then
      fail "round $i: process $v ($(ps -o comm= -p "$v")) survived the kill"
    fi
  done
done
t_kills=$(ms "$t_start")

# ---- sweep, then converge ---------------------------------------------------------------------------------
repair_state
if [ -e "$tfd/terraform.tfstate" ] && ! [ -s "$tfd/terraform.tfstate" ]; then
  echo "kill test: the state file is empty (a kill landed inside Terraform's truncate-then-write of the state)"
fi
echo "kill test: sweep (dry run):"
rc=0
sweep || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "sweep dry run exited $rc"
t0=$(date +%s%N)
echo "kill test: sweep -apply -state terraform.tfstate:"
sweep -apply -state "$tfd/terraform.tfstate" | tee "$work/sweep.txt" || fail "sweep -apply failed"
t_sweep=$(ms "$t0")
swept=$(grep -c ' done ' "$work/sweep.txt" || true)
unmanaged=$(grep -c 'in no Terraform state' "$work/sweep.txt" || true)

t0=$(date +%s%N)
export TF_VAR_round=final
tf apply -auto-approve || fail "the apply after sweep failed"
tf plan -detailed-exitcode || fail "the plan after the converging apply is not empty (exit $?)"
t_apply=$(ms "$t0")
echo "kill test: after the converging apply: $(counts) (want objects=$nsb active=$nsb)"
t0=$(date +%s%N)
tf destroy -auto-approve || fail "destroy failed"
t_destroy=$(ms "$t0")
assert_clean "after SIGKILL x$kills, sweep, apply, destroy"

# ---- SIGINT: a graceful stop converges without sweep -------------------------------------------------------
delay_ms=$((500 + RANDOM % 1501))
t0=$(date +%s%N)
export TF_VAR_round=sigint
terraform -chdir="$tfd" apply -auto-approve -input=false -no-color -compact-warnings >"$work/sigint.log" 2>&1 &
tfpid=$!
sleep "$(awk -v ms="$delay_ms" 'BEGIN {printf "%.3f", ms / 1000}')"
kill -INT "$tfpid" 2>/dev/null || true
rc=0
wait "$tfpid" || rc=$?
echo "kill test: SIGINT after ${delay_ms} ms: terraform exited $rc ($(grep -m1 -o -e 'Interrupt received' -e 'Apply complete.*' "$work/sigint.log" || echo 'no message')); now $(counts)"
tf apply -auto-approve || fail "the apply after SIGINT failed"
tf plan -detailed-exitcode || fail "the plan after SIGINT's converging apply is not empty"
echo "kill test: after SIGINT and one apply (no sweep): $(counts) (want objects=$nsb active=$nsb)"
tf destroy -auto-approve || fail "destroy after SIGINT failed"
assert_clean "after SIGINT, apply, destroy"
t_sigint=$(ms "$t0")

# What is left for sweep now are the process records of commands that the SIGKILLs cut short (their sandboxes
# are destroyed): it marks them failed. Nothing about sandboxes may be left.
echo "kill test: sweep -apply after everything:"
sweep -apply | tee "$work/final-sweep.txt" || fail "the final sweep failed"
if grep -q '^sandbox ' "$work/final-sweep.txt"; then
  fail "the final sweep still found sandboxes to remove"
fi
procs=$(grep -c '^process ' "$work/final-sweep.txt" || true)
echo "kill test: PASS (seed $seed): $kills SIGKILL rounds in ${t_kills} ms ($finished_early finished before the kill), sweep -apply removed $swept finding(s) ($unmanaged in no state) in ${t_sweep} ms, converging apply + plan ${t_apply} ms, destroy ${t_destroy} ms, SIGINT round ${t_sigint} ms, $procs cut-short process record(s) marked failed, $repaired cut-short state file(s) repaired, total $(ms "$t_start") ms"
