#!/usr/bin/env bash
# Kill test: proves that applies killed outright leave nothing behind that sweep and the next apply cannot clean.
#
#   1. Build the provider; a configuration of several sandboxes, each with a sandbox_command, on the local engine
#      with SQLite records, all in a temporary directory (own TF_CLI_CONFIG_FILE with dev_overrides).
#   2. KILLTEST_KILLS times (default 5): start `terraform apply`, sleep a random 0.2-3 s, then SIGKILL terraform
#      AND its provider child (and anything else it started) at once.
#   3. NO sweep: one plain `terraform apply` must converge by itself. A create that a killed apply finished (or
#      left half-way) and never saved in the state is adopted by the next apply's create of the same
#      configuration (its record is unconfirmed and its owner dead), and a sandbox_command cut short runs again
#      under its own record. Then: exactly as many live sandbox records (creating, active, error) and engine
#      objects as sandbox_sandbox in the state, and as many run records in live sandboxes as sandbox_command in
#      the state (assert_converged). Only when a kill cut the state file itself short (confirmed records in no
#      state: Terraform's truncate-then-write) does a scoped `sweep -apply -state` run first, and the summary
#      says so.
#   4. KILLTEST_PROVIDER_KILLS times (default 2): an apply whose provider process alone is SIGKILLed (terraform
#      survives and reports the crash); then one plain apply, empty plan, and the same exact counts. Destroy: no
#      engine object (the local root's sandboxes directory is empty) and no creating, active or error record.
#   5. SIGINT (a graceful stop, as Ctrl-C): start an apply, send SIGINT to terraform once, wait; the next apply must
#      converge WITHOUT sweep (then plan is empty, destroy, and the same final checks); a final sweep marks the
#      runs cut short `lost` and finds no sandbox to remove.
#   6. The hosted engines on their fakes (internal/testfakes/cmd/fakeservers, loopback only): per engine in
#      KILLTEST_FAKES, KILLTEST_FAKE_KILLS SIGKILL rounds of an apply of KILLTEST_FAKE_SANDBOXES sandboxes, one
#      apply without sweep and exact counts (objects counted on the fake), KILLTEST_FAKE_PROVIDER_KILLS (1)
#      provider-only SIGKILLs, apply and exact counts again, destroy; zero objects on the fake, zero non-terminal
#      records, and a clean dry-run sweep (see the section below).
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
# Environment: KILLTEST_SEED, KILLTEST_KILLS (5), KILLTEST_PROVIDER_KILLS (2), KILLTEST_SANDBOXES (8),
# KILLTEST_FAKE_PROVIDER_KILLS (1), KILLTEST_KEEP=1 keeps the work dir;
# KILLTEST_FAKES ("daytona vercel sprites", "" skips them), KILLTEST_FAKE_KILLS (2), KILLTEST_FAKE_SANDBOXES (4).
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

# live_counts: what is live for the current configuration directory $tfd: "state_sandboxes=<n>
# state_commands=<n> records=<n> objects=<n> runs=<n>", where records are the creating, active or error
# sandbox records, objects the engine's sandboxes (the local root's, or the fake's for $1 = a hosted engine),
# runs the sandbox_processes records of live sandboxes.
live_counts() {
  local ss sc recs runs objs list
  command -v sqlite3 >/dev/null 2>&1 || fail "the kill test needs the sqlite3 command to count records"
  list=$(terraform -chdir="$tfd" state list 2>/dev/null || true)
  ss=$(printf '%s\n' "$list" | grep -c '^sandbox_sandbox\.' || true)
  sc=$(printf '%s\n' "$list" | grep -c '^sandbox_command\.' || true)
  recs=$(sqlite3 "$SANDBOX_SQLITE_PATH" "select count(*) from sandbox_sandboxes where status in ('creating', 'active', 'error')")
  runs=$(sqlite3 "$SANDBOX_SQLITE_PATH" "select count(*) from sandbox_processes p join sandbox_sandboxes s on p.sandboxId = s.id where s.status in ('creating', 'active', 'error')")
  if [ -n "${1:-}" ]; then
    objs=$("$bin/fakeservers" -get "$fakes_url/count?engine=$1") || objs="?"
  else
    objs=0
    if [ -d "$sandboxes_dir" ]; then objs=$(find "$sandboxes_dir" -mindepth 1 -maxdepth 1 -name 'local-*' | wc -l); fi
  fi
  echo "state_sandboxes=$ss state_commands=$sc records=$recs objects=$objs runs=$runs"
}

# state_lost_confirmed: how many live sandbox records were confirmed (a plan read them from a state) but are
# not in the state file now: only a kill inside Terraform's truncate-then-write of the state file loses them.
state_lost_confirmed() {
  local ids n=0 id
  [ -e "$SANDBOX_SQLITE_PATH" ] || { echo 0; return; }
  ids=$(jq -r '.resources[]? | select(.type == "sandbox_sandbox") | .instances[].attributes.id' "$tfd/terraform.tfstate" 2>/dev/null || true)
  for id in $(sqlite3 "$SANDBOX_SQLITE_PATH" "select id from sandbox_sandboxes where status in ('creating', 'active', 'error') and json_extract(params, '\$.terraform.confirmed') = 1"); do
    printf '%s\n' "$ids" | grep -qx "$id" || n=$((n + 1))
  done
  echo "$n"
}

# assert_converged WHEN [ENGINE]: one live record and one engine object per sandbox_sandbox in the state, one run
# record per sandbox_command, and nothing else live: no duplicate of a killed apply's create.
assert_converged() {
  local c ss sc recs objs runs
  c=$(live_counts "${2:-}")
  echo "kill test: $1: $c"
  read -r ss sc recs objs runs <<<"$(printf '%s' "$c" | sed 's/[a-z_]*=//g')"
  if [ "$ss" = 0 ] || [ "$recs" != "$ss" ] || [ "$objs" != "$ss" ] || [ "$runs" != "$sc" ]; then
    sqlite3 "$SANDBOX_SQLITE_PATH" "select id, status, params from sandbox_sandboxes where status != 'shutdown'" >&2 2>/dev/null || true
    fail "$1: live records, engine objects or runs do not match the state: $c"
  fi
}



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

# provider_kills N PREFIX [ENGINE]: N applies (round PREFIX<i>) whose provider process alone is SIGKILLed a
# random 0-0.8 s after terraform starts changing things (an apply of a few sandboxes is done within about a
# second of its first change).
provider_kills() {
  local n=$1 prefix=$2 eng=${3:-} i delay_ms klog tfpid provs p what rc
  for i in $(seq 1 "$n"); do
    delay_ms=$((RANDOM % 801))
    klog="$work/pkill-$prefix$i.log"
    terraform -chdir="$tfd" apply -auto-approve -input=false -no-color -compact-warnings -var "round=$prefix$i" >"$klog" 2>&1 &
    tfpid=$!
    for _ in $(seq 1 400); do
      grep -qE ': (Creating|Destroying)\.\.\.' "$klog" && break
      kill -0 "$tfpid" 2>/dev/null || break
      sleep 0.05
    done
    sleep "$(awk -v ms="$delay_ms" 'BEGIN {printf "%.3f", ms / 1000}')"
    provs=""
    for p in $(descendants "$tfpid"); do
      case "$(ps -o comm= -p "$p" 2>/dev/null)" in terraform-provi*) provs="$provs $p" ;; esac
    done
    if [ -n "$provs" ]; then
      # shellcheck disable=SC2086 # one pid per word
      kill -9 $provs 2>/dev/null || true
      what="killed the provider (pid$provs)"
    else
      what="no provider ran any more (the apply had finished)"
    fi
    rc=0
    wait "$tfpid" || rc=$?
    echo "kill test: ${eng:-local} provider round $i: SIGKILL ${delay_ms} ms after the first change: $what; terraform exited $rc; now $(live_counts "$eng")"
  done
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
  # A SIGKILLed process takes a moment to be torn down on a loaded machine (a Go process with many threads):
  # it has survived only if it still runs, neither gone nor a zombie, after 30 s.
  for v in $victims; do
    for _ in $(seq 300); do
      st=$(ps -o stat= -p "$v" 2>/dev/null | cut -c1 || true)
      if [ -z "$st" ] || [ "$st" = Z ] || ! kill -0 "$v" 2>/dev/null; then st=gone; break; fi
      sleep 0.1
    done
    if [ "$st" != gone ]; then
      fail "round $i: process $v ($(ps -o comm= -p "$v" 2>/dev/null)) survived the kill"
    fi
  done
done
t_kills=$(ms "$t_start")

# ---- converge WITHOUT sweep: the killed applies' creates are adopted, not duplicated -----------------------
# A create that finished (or was half-way) when its apply was killed, and that never reached the state, is
# taken over by the next apply's create of the same configuration (its record is unconfirmed and its owner
# dead), so one plain apply converges to exactly one live record and one engine object per resource in the
# state, and one run record per sandbox_command. The one exception is a kill inside Terraform's own
# truncate-then-write of the state file: the records that state held were confirmed (a plan read them), and
# nothing tells them from another configuration's, so for that case only, as a user would, a scoped sweep
# -state runs first.
repair_state
swept_for_state=0
if [ "$(state_lost_confirmed)" -gt 0 ]; then
  echo "kill test: a kill cut the state file itself short ($(state_lost_confirmed) confirmed record(s) are in no state): sweep -apply -state terraform.tfstate before converging"
  sweep -apply -state "$tfd/terraform.tfstate" | tee "$work/sweep.txt" || fail "sweep -apply failed"
  swept_for_state=1
fi
t0=$(date +%s%N)
export TF_VAR_round=final
tf apply -auto-approve || fail "the apply after the SIGKILL rounds failed"
tf plan -detailed-exitcode || fail "the plan after the converging apply is not empty (exit $?)"
t_apply=$(ms "$t0")
assert_converged "after SIGKILL of terraform x$kills and one apply (sweep for a cut-short state: $swept_for_state)"

# ---- SIGKILL of the provider alone ----------------------------------------------------------------------------
# terraform survives and reports the plugin's crash; what the provider had made and not yet returned is in no
# state. The next plain apply adopts it.
pkills=${KILLTEST_PROVIDER_KILLS:-2}
provider_kills "$pkills" p
repair_state
export TF_VAR_round=final2
tf apply -auto-approve || fail "the apply after the provider SIGKILL rounds failed"
tf plan -detailed-exitcode || fail "the plan after the provider kills' converging apply is not empty (exit $?)"
assert_converged "after SIGKILL of the provider x$pkills and one apply (no sweep)"

t0=$(date +%s%N)
tf destroy -auto-approve || fail "destroy failed"
t_destroy=$(ms "$t0")
assert_clean "after SIGKILL x$kills, provider SIGKILL x$pkills, apply, destroy"

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
# are destroyed): it marks them lost. Nothing about sandboxes may be left to remove.
echo "kill test: sweep -apply after everything:"
sweep -apply | tee "$work/final-sweep.txt" || fail "the final sweep failed"
if grep -E '^sandbox ' "$work/final-sweep.txt" | grep -q ' done '; then
  fail "the final sweep still found sandboxes to remove"
fi
procs=$(grep -c '^process ' "$work/final-sweep.txt" || true)
echo "kill test: PASS (seed $seed): $kills SIGKILL rounds in ${t_kills} ms ($finished_early finished before the kill), no sweep before converging (sweep for a cut-short state file: $swept_for_state), converging apply + plan ${t_apply} ms, $pkills provider SIGKILL rounds, destroy ${t_destroy} ms, SIGINT round ${t_sigint} ms, $procs cut-short process record(s) marked lost, $repaired cut-short state file(s) repaired, total $(ms "$t_start") ms"
t_local=$(ms "$t_start")

# ---- the hosted engines, on their fakes ---------------------------------------------------------------------
# internal/testfakes/cmd/fakeservers runs the Daytona, Vercel and Sprites fakes on loopback ports and writes
# their URLs and dummy tokens to <dir>/<engine>.env. Per engine: a configuration of KILLTEST_FAKE_SANDBOXES
# sandbox_sandbox with backend = "<engine>", the fake's api_url and token in the provider block;
# KILLTEST_FAKE_KILLS SIGKILL rounds as above; then sweep -apply -state with the engine's environment variables
# (what a user exports); apply, empty plan, destroy; then the fake must hold no object (counted on the fake's
# side) and the records no creating, active or error sandbox, and a dry-run sweep must find nothing.
#
# Environment: KILLTEST_FAKES ("daytona vercel sprites"; empty skips this part), KILLTEST_FAKE_KILLS (2),
# KILLTEST_FAKE_SANDBOXES (4).
fakes=${KILLTEST_FAKES-daytona vercel sprites}
fkills=${KILLTEST_FAKE_KILLS:-3}
fnsb=${KILLTEST_FAKE_SANDBOXES:-4}
fpkills=${KILLTEST_FAKE_PROVIDER_KILLS:-1}
fake_summary=""
if [ -n "$fakes" ]; then
  go build -o "$bin/fakeservers" ./internal/testfakes/cmd/fakeservers
  fdir="$work/fakeservers"
  # -step: Daytona and Vercel sandboxes take 300 ms per state change instead of 20-40 ms; -latency: every API
  # request waits 20 ms, as a round trip to a service would. Both widen the windows the kills can land in (a
  # sprite is otherwise made at once), at a few seconds' cost over the three engines.
  "$bin/fakeservers" -out "$fdir" -root "$work/fakes-root" -step 300ms -latency 20ms >"$work/fakeservers.log" 2>&1 &
  fspid=$!
  for _ in $(seq 1 100); do
    [ -e "$fdir/control.env" ] && break
    kill -0 "$fspid" 2>/dev/null || fail "fakeservers exited: $(cat "$work/fakeservers.log")"
    sleep 0.1
  done
  [ -e "$fdir/control.env" ] || fail "fakeservers did not start in 10 s"
  fakes_url=$(sed -n 's/^FAKESERVERS_URL=//p' "$fdir/control.env")
  echo "kill test: fakes up ($(tr '\n' ' ' <"$fdir/control.env")); engines: $fakes, $fkills kills, $fnsb sandboxes each"
fi

# fakevar ENGINE NAME: a value of the fake's environment file
fakevar() { sed -n "s/^$2=//p" "$fdir/$1.env"; }
# fsweep ENGINE ARGS...: sweep with the engine's environment (credential and API URL) and nothing else hosted
fsweep() {
  local eng=$1
  shift
  # shellcheck disable=SC2046 # the file holds KEY=value words without spaces
  env $(cat "$fdir/$eng.env") "$bin/sweep" "$@"
}
# fake_counts ENGINE: "objects=<n> creating=<n> active=<n> error=<n>", objects counted on the fake itself
fake_counts() {
  local objs json
  objs=$("$bin/fakeservers" -get "$fakes_url/count?engine=$1") || objs="?"
  json=$(fsweep "$1" -json 2>/dev/null || true)
  printf 'objects=%s %s\n' "$objs" "$(printf '%s' "$json" | awk '
    /"records": \{/ {on = 1; next}
    on && /\}/ {on = 0}
    on { gsub(/[",]/, ""); sub(/:/, "="); printf "%s ", $1 $2 }')"
}

for eng in $fakes; do
  t_eng=$(date +%s%N)
  case $eng in
    daytona) block="api_key = \"$(fakevar daytona DAYTONA_API_KEY)\"
    api_url = \"$(fakevar daytona DAYTONA_API_URL)\"" ;;
    vercel) block="token      = \"$(fakevar vercel VERCEL_TOKEN)\"
    team_id    = \"$(fakevar vercel VERCEL_TEAM_ID)\"
    project_id = \"$(fakevar vercel VERCEL_PROJECT_ID)\"
    api_url    = \"$(fakevar vercel VERCEL_API_URL)\"" ;;
    sprites) block="token   = \"$(fakevar sprites SPRITES_API_TOKEN)\"
    api_url = \"$(fakevar sprites SPRITES_API_URL)\"" ;;
    *) fail "KILLTEST_FAKES: unknown engine $eng (want daytona, vercel or sprites)" ;;
  esac
  # Own records, local root and Terraform directory per engine; tf and repair_state work on $tfd.
  tfd="$work/tf-$eng"
  mkdir -p "$tfd"
  export SANDBOX_SQLITE_PATH="$work/records-$eng.db" SANDBOX_LOCAL_ROOT="$work/local-$eng"
  unset TF_VAR_round
  cat >"$tfd/main.tf" <<TF
terraform {
  required_providers {
    sandbox = { source = "ekairos/sandbox" }
  }
}

provider "sandbox" {
  $eng {
    $block
  }
}

variable "round" {
  type = string
}

resource "sandbox_sandbox" "s" {
  for_each = toset([for i in range($fnsb) : "\${var.round}-\${i}"])
  backend  = "$eng"
  purpose  = "killtest"
  env      = { INDEX = split("-", each.key)[1] }
}
TF
  early=0
  for i in $(seq 1 "$fkills"); do
    # An apply on a fake spends most of its time starting terraform and the provider and planning, and then
    # finishes its deletes and creates within about a second: the kill lands a random 0-0.6 s after terraform
    # starts changing things (its first "Creating..." or "Destroying..." line), so that most rounds cut creates
    # and deletes short rather than killing a plan or a finished apply.
    delay_ms=$((RANDOM % 601))
    victims=""
    klog="$work/kill-$eng-$i.log"
    setsid terraform -chdir="$tfd" apply -auto-approve -input=false -no-color -compact-warnings -var "round=k$i" >"$klog" 2>&1 &
    tfpid=$!
    t0=$(date +%s%N)
    for _ in $(seq 1 400); do
      grep -qE ': (Creating|Destroying)\.\.\.' "$klog" && break
      kill -0 "$tfpid" 2>/dev/null || break
      sleep 0.05
    done
    started=$(ms "$t0")
    sleep "$(awk -v ms="$delay_ms" 'BEGIN {printf "%.3f", ms / 1000}')"
    if kill -0 "$tfpid" 2>/dev/null; then
      victims=$(descendants "$tfpid" | tr '\n' ' ')
      kill -9 -- "-$tfpid" "$tfpid" $victims 2>/dev/null || true
      wait "$tfpid" 2>/dev/null || true
      what="killed terraform (pid $tfpid) and its children: ${victims:-none}"
    else
      wait "$tfpid" 2>/dev/null || true
      what="the apply had already finished"
      early=$((early + 1))
    fi
    echo "kill test: $eng round $i: SIGKILL ${delay_ms} ms after the first change (at ${started} ms): $what; now $(fake_counts "$eng")"
    repair_state
    # Every resource in the state has its own record (the state holds only sandbox_sandbox, whose "id" is it).
    dups=$(grep -oE '"id": "[0-9a-f-]{36}"' "$tfd/terraform.tfstate" 2>/dev/null | sort | uniq -d || true)
    [ -z "$dups" ] || fail "$eng round $i: several resources in the state share a record: $dups"
  done
  repair_state
  fswept=0
  if [ "$(state_lost_confirmed)" -gt 0 ]; then
    # A kill cut the state file itself short (see the local part): only then, a scoped sweep first.
    echo "kill test: $eng: a kill cut the state file short: sweep -apply -state terraform.tfstate before converging"
    fsweep "$eng" -apply -state "$tfd/terraform.tfstate" | tee "$work/sweep-$eng.txt" || fail "$eng: sweep -apply failed"
    fswept=$(grep -c ' done ' "$work/sweep-$eng.txt" || true)
  fi
  export TF_VAR_round=final
  tf apply -auto-approve || fail "$eng: the apply after the SIGKILL rounds failed"
  tf plan -detailed-exitcode || fail "$eng: the plan after the converging apply is not empty (exit $?)"
  assert_converged "$eng: after SIGKILL of terraform x$fkills and one apply (no sweep unless the state was cut: $fswept swept)" "$eng"
  provider_kills "$fpkills" p "$eng"
  repair_state
  export TF_VAR_round=final2
  tf apply -auto-approve || fail "$eng: the apply after the provider SIGKILL rounds failed"
  tf plan -detailed-exitcode || fail "$eng: the plan after the provider kills' converging apply is not empty (exit $?)"
  assert_converged "$eng: after SIGKILL of the provider x$fpkills and one apply (no sweep)" "$eng"
  tf destroy -auto-approve || fail "$eng: destroy failed"
  c=$(fake_counts "$eng")
  echo "kill test: $eng: after SIGKILL x$fkills, provider SIGKILL x$fpkills, applies without sweep, destroy: $c"
  if ! printf '%s' "$c" | grep -q '^objects=0 ' || printf '%s' "$c" | grep -Eq '(creating|active|error)=[1-9]' ||
    ! printf '%s' "$c" | grep -q 'active='; then
    "$bin/fakeservers" -get "$fakes_url/objects" >&2 || true
    sqlite3 "$SANDBOX_SQLITE_PATH" "select id, status from sandbox_sandboxes where status != 'shutdown'" >&2 2>/dev/null || true
    fail "$eng: objects or non-terminal records remain: $c"
  fi
  rc=0
  fsweep "$eng" >"$work/final-sweep-$eng.txt" || rc=$?
  if [ "$rc" != 0 ]; then
    cat "$work/final-sweep-$eng.txt" >&2
    fail "$eng: the final dry-run sweep exited $rc (want 0: nothing left to sweep)"
  fi
  fake_summary="$fake_summary $eng: $fkills kills ($early finished before the kill), $fpkills provider kill(s), $fswept swept, $(ms "$t_eng") ms;"
done
if [ -n "$fakes" ]; then
  kill -TERM "$fspid" 2>/dev/null || true
  wait "$fspid" 2>/dev/null || true
  echo "kill test: PASS on the fakes:${fake_summary} local part ${t_local} ms, total $(ms "$t_start") ms"
fi
