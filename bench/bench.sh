#!/usr/bin/env bash
# `make bench`: measures the provider against baselines measured in the same run and prints ONE table, every row
# a ratio (measured / baseline), then writes it to BENCHMARKS.md with the machine it ran on.
#
# Rows:
#   1. terraform apply of N sandbox_sandbox (local engine, SQLite, -parallelism=10), N terraform_data, N floor_data
#      (bench/floorprovider) and N sandbox_sandbox of the same-schema floor (bench/schemafloor), interleaved:
#      the provider vs terraform_data (information), floor_data vs terraform_data (any plugin), the same-schema
#      floor vs floor_data (the schema's size) and the provider vs the same-schema floor (its own share, the goal)
#   2. the same four for a terraform plan -refresh-only of M resources (created once, untimed)
#   3. local exec of `true` (bubblewrap, and isolation none) vs a bare `sh -c true`, in pairs (BenchmarkExecTruePaired)
#   4. sandbox_records' filtered query over 10^5 records: SQLite store vs bare indexed SELECT (+ EXPLAIN QUERY PLAN)
#   5. the same on PostgreSQL (+ EXPLAIN)
#   6. the same on the InstantDB fake vs one bare admin query request, with requests per page and the where filter
#   7. a sandbox from a 1 GiB setup vs cp -a (BenchmarkSandboxFromSetup1GiB, when it exists)
#   8. terraform apply of 50 sandboxes on each hosted engine's fake vs terraform_data, with requests per resource
#      (apply and refresh) and the poll intervals that show the back-off; then a refresh-only plan of a fleet of
#      1000 on each fake: its API requests vs the one GET per sandbox it took before the refresh by list
#   9. create until ready on each hosted fake (300 ms transitions): the engine's poll cadence vs a 5 ms poll
#      (BenchmarkHostedCreateReady), with requests per create
#
# Environment:
#   BENCH_QUICK=1      20 / 100 resources and one repetition (for development); default 200 / 1000, 5 repetitions
#   BENCH_REPS=n       repetitions of each terraform timing (the median is used)
#   BENCH_OUT=path     where to write the report (default BENCHMARKS.md; BENCH_QUICK writes .cache/BENCHMARKS.quick.md)
#   BENCH_SKIP="tf go" skip row groups: tf (rows 1-2), exec, sqlite, postgres, instantdb, setup, fakes, ready
#   BENCH_KEEP=1       keep the work directory (terraform dirs, records, logs)
#
# Terraform runs with a CLI configuration of its own (dev_overrides to the provider built from this tree; never
# ~/.terraformrc), and every record file and local root is in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
  n_apply=20 n_refresh=100 n_fake=10 n_fleet=100 reps=${BENCH_REPS:-1}
  out=${BENCH_OUT:-$top/.cache/BENCHMARKS.quick.md}
else
  n_apply=200 n_refresh=1000 n_fake=50 n_fleet=1000 reps=${BENCH_REPS:-5}
  out=${BENCH_OUT:-$top/BENCHMARKS.md}
fi
skip=" ${BENCH_SKIP:-} "
skipped() { [[ "$skip" == *" $1 "* ]]; }

for tool in go terraform awk; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not on PATH" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/sandbox-bench.XXXXXX")
cleanup() {
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
rows="$work/rows.tsv"     # name, measured ns, baseline ns, goal (x or -), note
extras="$work/extras.md"  # EXPLAIN plans and other sections under the table
: >"$rows"
: >"$extras"
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

log() { printf 'bench: %s\n' "$*" >&2; }
now_ns() { date +%s%N; }

# row NAME MEASURED_NS BASELINE_NS GOAL NOTE [RATIO]  (MEASURED_NS empty = not measured; NOTE then says why;
# RATIO, when given, is the row's ratio instead of MEASURED/BASELINE: the median of per-repetition ratios)
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-}" >>"$rows"; }

# median of the numbers given as arguments
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# ---------------------------------------------------------------------------------------------------------
# terraform rows
# ---------------------------------------------------------------------------------------------------------
bin="$work/bin"
cli="$work/terraformrc"
setup_terraform() {
  mkdir -p "$bin"
  log "building the provider from this tree"
  go build -o "$bin/terraform-provider-sandbox" .
  go build -o "$bin/terraform-provider-floor" ./bench/floorprovider
  # The same-schema floor's type is also `sandbox` (its resource is sandbox_sandbox): a directory of its own.
  mkdir -p "$bin/schemafloor"
  go build -o "$bin/schemafloor/terraform-provider-sandbox" ./bench/schemafloor
  cat >"$cli" <<CLI
provider_installation {
  dev_overrides {
    "registry.terraform.io/ekairos/sandbox" = "$bin"
    "registry.terraform.io/bench/floor"     = "$bin"
    "registry.terraform.io/bench/sandbox"   = "$bin/schemafloor"
  }
  direct {}
}
CLI
  export TF_CLI_CONFIG_FILE="$cli" CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
  unset TF_LOG TF_LOG_PATH TF_LOG_PROVIDER TF_LOG_CORE
}

# tfdir KIND N DIR: a configuration of N sandbox_sandbox or terraform_data resources, with its own records and root
tfdir() {
  local kind=$1 n=$2 dir=$3
  mkdir -p "$dir"
  if [ "$kind" = sandbox ] || [ "$kind" = schemafloor ]; then
    local source=ekairos/sandbox
    [ "$kind" = schemafloor ] && source=bench/sandbox
    cat >"$dir/main.tf" <<TF
terraform {
  required_providers {
    sandbox = { source = "$source" }
  }
}

provider "sandbox" {
  sqlite_path = "$dir/records.db"
  local {
    root = "$dir/local"
  }
}

resource "sandbox_sandbox" "s" {
  count   = $n
  purpose = "bench"
  timeout = "5m"
}
TF
  elif [ "$kind" = floor ]; then
    cat >"$dir/main.tf" <<TF
terraform {
  required_providers {
    floor = { source = "bench/floor" }
  }
}

resource "floor_data" "s" {
  count = $n
  input = "bench"
}
TF
  else
    cat >"$dir/main.tf" <<TF
resource "terraform_data" "s" {
  count = $n
  input = { purpose = "bench", timeout = "5m" }
}
TF
  fi
}

# tftime DIR ARGS...: run terraform in DIR, print the wall time in ns; the output goes to DIR/tf.log
tftime() {
  local dir=$1
  shift
  local t0 t1
  t0=$(now_ns)
  if ! terraform -chdir="$dir" "$@" -input=false -no-color >>"$dir/tf.log" 2>&1; then
    log "terraform $* failed in $dir:"
    tail -30 "$dir/tf.log" >&2
    return 1
  fi
  t1=$(now_ns)
  echo $((t1 - t0))
}

# kinds of the terraform rows: data = terraform_data, floor = floor_data (bench/floorprovider), schemafloor =
# sandbox_sandbox of the same-schema floor (bench/schemafloor), sandbox = the real provider
tf_kinds=(data floor schemafloor sandbox)

# tfrun PHASE KIND I: one timed terraform run of PHASE (apply: in a fresh directory; refresh: in the directory
# created once) for KIND, repetition I; prints ns
tfrun() {
  local phase=$1 kind=$2 i=$3 dir
  if [ "$phase" = apply ]; then
    dir="$work/apply-$kind-$i"
    tfdir "$kind" "$n_apply" "$dir"
    tftime "$dir" apply -auto-approve -parallelism=10 -compact-warnings
  else
    tftime "$work/refresh-$kind" plan -refresh-only -compact-warnings
  fi
}

# tfphase PHASE: runs every kind REPS times, interleaved, the order rotating with each repetition (so that no
# kind always runs first, or right after the heaviest); sets T_<kind> to the space-separated ns of each run
tfphase() {
  local phase=$1 i j k kind n=${#tf_kinds[@]}
  for kind in "${tf_kinds[@]}"; do eval "T_$kind=()"; done
  for i in $(seq 1 "$reps"); do
    for j in $(seq 0 $((n - 1))); do
      kind=${tf_kinds[$(((i - 1 + j) % n))]}
      log "$phase: $kind (repetition $i/$reps)"
      k=$(tfrun "$phase" "$kind" "$i")
      eval "T_$kind+=($k)"
    done
  done
}

# ratio_median A[@] B[@] (as two space-separated strings): the median of the per-repetition ratios A_i/B_i.
# Each pair ran in the same repetition, minutes apart at most, so a change of the machine's load between
# repetitions moves both sides; the median of the pairs' ratios holds better than the ratio of two medians.
ratio_median() {
  paste <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '{print $1 / $2}' | sort -g |
    awk '{a[NR]=$1} END {if (NR%2) printf "%.4f\n", a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}'
}

# tfrows PHASE TITLE N GOAL_VS_DATA: the four rows of a phase from T_* (GOAL_VS_DATA is "-" for both phases: the
# provider vs terraform_data is information, below what any plugin costs; the own share is the verdict)
tfrows() {
  local phase=$1 what=$2 n=$3 goal=$4 sb td fl sf
  sb=$(median $T_sandbox_s) td=$(median $T_data_s) fl=$(median $T_floor_s) sf=$(median $T_schemafloor_s)
  local runs="runs (s): sandbox $(secs $T_sandbox_s); same-schema floor $(secs $T_schemafloor_s); floor_data $(secs $T_floor_s); terraform_data $(secs $T_data_s)"
  row "$what: $n sandbox_sandbox vs $n terraform_data" "$sb" "$td" "$goal" \
    "information: median of $reps interleaved repetitions (ratio of the medians); $runs" ""
  row "floor: $what of $n floor_data (the smallest plugin-framework provider) vs $n terraform_data" "$fl" "$td" - \
    "what any plugin costs (median of the per-repetition ratios)" "$(ratio_median "$T_floor_s" "$T_data_s")"
  row "schema cost: $what of $n same-schema floor sandbox_sandbox vs $n floor_data" "$sf" "$fl" - \
    "bench/schemafloor: the real sandbox_sandbox schema (plan modifiers, defaults, validators) with CRUD that touch nothing; what a 60-attribute object costs Terraform and the framework (median of the per-repetition ratios)" \
    "$(ratio_median "$T_schemafloor_s" "$T_floor_s")"
  row "own share: $what of $n sandbox_sandbox vs $n same-schema floor sandbox_sandbox" "$sb" "$sf" 1.2 \
    "this provider's own work: $5 (median of the per-repetition ratios)" "$(ratio_median "$T_sandbox_s" "$T_schemafloor_s")"
}

bench_terraform() {
  setup_terraform
  local kind
  # Apply of N resources, each repetition in fresh directories (fresh state, records and root).
  tfphase apply
  for kind in "${tf_kinds[@]}"; do eval "T_${kind}_s=\"\${T_$kind[*]}\""; done
  tfrows apply "terraform apply" "$n_apply" - \
    "record-first create (SQLite record written, then the local directory with its metadata, then the record updated), config validation and ModifyPlan"

  # Refresh-only plan of M resources, created once (untimed).
  for kind in "${tf_kinds[@]}"; do tfdir "$kind" "$n_refresh" "$work/refresh-$kind"; done
  log "creating $n_refresh of each kind for the refresh rows (untimed)"
  for kind in "${tf_kinds[@]}"; do
    tftime "$work/refresh-$kind" apply -auto-approve -parallelism=10 -compact-warnings >/dev/null
  done
  tfphase refresh
  for kind in "${tf_kinds[@]}"; do eval "T_${kind}_s=\"\${T_$kind[*]}\""; done
  tfrows refresh "terraform plan -refresh-only" "$n_refresh" - \
    "a record read in SQLite and a local engine state read per sandbox"
  if ! grep -q "No changes" "$work/refresh-sandbox/tf.log"; then
    log "warning: the refresh-only plan of the sandboxes was not empty (see $work/refresh-sandbox/tf.log)"
  fi
}

# secs NS...: the numbers as seconds with two decimals, comma-separated
secs() { printf '%s\n' "$@" | awk '{printf "%s%.2f", (NR>1?", ":""), $1/1e9}'; }

# ---------------------------------------------------------------------------------------------------------
# Go benchmark rows
# ---------------------------------------------------------------------------------------------------------

# gobench OUTFILE PKG BENCHREGEX [extra go test args...]: runs the benchmarks (tests off unless -run is given)
gobench() {
  local outf=$1 pkg=$2 re=$3
  shift 3
  local run='^$'
  local args=()
  for a in "$@"; do
    case $a in -run=*) run=${a#-run=} ;; *) args+=("$a") ;; esac
  done
  go test -count=1 -run "$run" -bench "$re" -benchtime=1s -v "${args[@]}" "$pkg" >"$outf" 2>&1
}

# nsop FILE NAME: ns/op of the benchmark line whose name (without the -N suffix) is NAME
nsop() {
  awk -v want="$2" '$1 ~ /^Benchmark/ && $4 == "ns/op" { n = $1; sub(/-[0-9]+$/, "", n); if (n == want) { print $3; exit } }' "$1"
}

# why FILE: a one-line reason a benchmark produced no number
why() {
  if grep -q -- '--- SKIP' "$1"; then
    grep -A1 -- '--- SKIP' "$1" | tail -1 | sed 's/^ *//; s/.*_test.go:[0-9]*: //' | cut -c1-120
  elif grep -q -e '^FAIL' -e 'build failed' -e 'cannot' "$1"; then
    echo "failed: $(grep -m1 -e 'error' -e 'undefined' -e 'FAIL' "$1" | cut -c1-120)"
  else
    echo "no result"
  fi
}

# metric FILE NAME UNIT: the value reported with UNIT on the benchmark line whose name (without -N) is NAME
metric() {
  awk -v want="$2" -v unit="$3" '$1 ~ /^Benchmark/ { n = $1; sub(/-[0-9]+$/, "", n); if (n != want) next
    for (i = 3; i <= NF; i++) if ($i == unit) { print $(i - 1); exit } }' "$1"
}

bench_exec() {
  local f="$work/exec.txt" which m b r p90 n
  log "local exec of true vs sh -c true (BenchmarkExecTruePaired)"
  # A fixed count: the first command on a fresh local root builds the sandbox /etc view (hundreds of files and
  # symlinks, up to a second here), and with -benchtime=1s that one-time cost can be most of the measurement.
  # Paired: each `true` through the engine runs next to a `sh -c true` (order alternating), and the row is the
  # median of the pairs' ratios, so that load coming and going on a shared machine moves both sides alike.
  gobench "$f" ./internal/backend/engine/local '^BenchmarkExecTruePaired$' -benchtime=400x || true
  for which in bwrap none; do
    n="BenchmarkExecTruePaired/local_$which"
    m=$(metric "$f" "$n" exec-ns) b=$(metric "$f" "$n" sh-ns) r=$(metric "$f" "$n" x_sh)
    p90=$(metric "$f" "$n" exec-p90/p50)
    local title='local exec of `true` (bubblewrap) vs bare `sh -c true`' goal=1.5
    if [ "$which" = none ]; then title='local exec of `true` (isolation none) vs bare `sh -c true`' goal=-; fi
    if [ -n "$m" ] && [ -n "$b" ] && [ -n "$r" ]; then
      row "$title" "${m%.*}" "${b%.*}" "$goal" \
        "$n: 400 pairs (sh, then exec, or the reverse), after one warm-up command (which starts the sandbox's init); medians of each and median of the pairs' ratios; exec p90/p50 = $p90" "$r"
    else
      row "$title" "" "$b" "$goal" "not measured: $(why "$f")"
    fi
  done
}

bench_sqlite() {
  local f="$work/sqlite.txt" m b
  log "SQLite: Store.Query over 10^5 records vs a bare indexed SELECT (BenchmarkQuery100k)"
  gobench "$f" ./internal/backend/store/sqlite '^BenchmarkQuery100k$' || true
  m=$(nsop "$f" BenchmarkQuery100k/store)
  b=$(nsop "$f" BenchmarkQuery100k/bare_select)
  if [ -n "$m" ] && [ -n "$b" ]; then
    row "sandbox_records filter over 10^5 records, SQLite: Store.Query vs bare indexed SELECT" "$m" "$b" - \
      "status=active AND provider=local ORDER BY createdAt LIMIT 100; plan below"
  else
    row "sandbox_records filter over 10^5 records, SQLite: Store.Query vs bare indexed SELECT" "" "" - "not measured: $(why "$f")"
  fi
  {
    echo "### SQLite: EXPLAIN QUERY PLAN of the filtered query (10^5 records)"
    echo
    echo '```'
    awk '/EXPLAIN QUERY PLAN/ {on=1; next} on && /^        / {sub(/^        /, ""); print; next} on {exit}' "$f"
    echo '```'
    echo
  } >>"$extras"
}

bench_postgres() {
  local f="$work/postgres.txt" m b
  log "PostgreSQL: Store.Query over 10^5 records vs a bare SELECT (BenchmarkQuery100k, TestExplainUsesIndex)"
  gobench "$f" ./internal/backend/store/postgres '^BenchmarkQuery100k$' -run='^TestExplainUsesIndex$' || true
  m=$(nsop "$f" BenchmarkQuery100k/store)
  b=$(nsop "$f" BenchmarkQuery100k/bare_select)
  if [ -n "$m" ] && [ -n "$b" ]; then
    row "sandbox_records filter over 10^5 records, PostgreSQL: Store.Query vs bare SELECT" "$m" "$b" - \
      "status=active AND provider=daytona ORDER BY createdAt LIMIT 100; plan below"
  else
    row "sandbox_records filter over 10^5 records, PostgreSQL: Store.Query vs bare SELECT" "" "" - "not measured: $(why "$f")"
  fi
  {
    echo "### PostgreSQL: EXPLAIN of the filtered query (10^5 records, ANALYZEd)"
    echo
    echo '```'
    awk '/EXPLAIN of the query/ {on=1; next} on && /^        / {sub(/^        /, ""); print; next} on {exit}' "$f"
    echo '```'
    echo
  } >>"$extras"
}

bench_instantdb() {
  local f="$work/instantdb.txt" m b paging
  log "InstantDB fake: Store.Query vs a bare admin query request, paging (BenchmarkInstantDBQuery100k)"
  gobench "$f" ./bench '^BenchmarkInstantDBQuery100k$' || true
  m=$(nsop "$f" BenchmarkInstantDBQuery100k/store)
  b=$(nsop "$f" BenchmarkInstantDBQuery100k/bare_request)
  paging=$(grep -o 'PAGING .*' "$f" | head -1 || true)
  local note="not measured: $(why "$f")"
  if [ -n "$paging" ]; then
    note=$(echo "$paging" | awk '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "paging: %s records in %s requests of %s (%.0f records/request); where filter on %s page requests", v["records"], v["requests"], v["pagesize"], v["records"]/v["requests"], v["filtered"]
    }')
  fi
  if [ -n "$m" ] && [ -n "$b" ]; then
    row "sandbox_records filter over 10^5 records, InstantDB fake: Store.Query vs one bare admin query" "$m" "$b" - "$note"
  else
    row "sandbox_records filter over 10^5 records, InstantDB fake: Store.Query vs one bare admin query" "" "" - "$note"
  fi
}

bench_setup() {
  local f="$work/setup.txt" name=BenchmarkSandboxFromSetup1GiB
  local title="sandbox from a 1 GiB setup vs cp -a of the same tree"
  local listed
  if ! listed=$(go test -list "^${name}\$" ./internal/backend/engine/local 2>&1); then
    row "$title" "" "" - "not measured: internal/backend/engine/local does not build: $(echo "$listed" | grep -m1 -v '^#' | cut -c1-100)"
    return
  fi
  if ! echo "$listed" | grep -q "^${name}\$"; then
    row "$title" "" "" - "not measured (benchmark missing)"
    return
  fi
  log "a sandbox from a 1 GiB setup vs cp -a ($name)"
  SANDBOX_BENCH_1GIB=1 go test -count=1 -run '^$' -bench "^${name}\$" -benchtime=3x -timeout 20m -v ./internal/backend/engine/local >"$f" 2>&1 || true
  # Sub-benchmarks: the `cp -a` one is the baseline; every other one is a row of its own, with the copy method
  # the engine reported (its log line "setup_copy = <method>").
  local b subs
  b=$(awk -v n="$name" '$1 ~ "^"n"/" && $4 == "ns/op" && tolower($1) ~ /cp_a|cp-a/ {print $3; exit}' "$f")
  [ -n "$b" ] || b=$(awk -v n="$name" '$1 ~ "^"n"/" && $4 == "ns/op" && tolower($1) ~ /cp/ {print $3; exit}' "$f")
  subs=$(awk -v n="$name" '$1 ~ "^"n"/" && $4 == "ns/op" && tolower($1) !~ /cp_a|cp-a/ {s = $1; sub(/-[0-9]+$/, "", s); sub("^"n"/", "", s); print s "\t" $3}' "$f")
  if [ -z "$b" ] || [ -z "$subs" ]; then
    row "$title" "" "" - "not measured: $(why "$f")"
    return
  fi
  local sub ns method
  while IFS=$'\t' read -r sub ns; do
    method=$(awk -v want="$name/$sub" '
      index($0, want) == 1 { cur = 1; next }
      /^Benchmark/ { cur = 0 }
      cur && match($0, /setup_copy = [a-z_-]+/) { print substr($0, RSTART + 13, RLENGTH - 13); exit }' "$f")
    row "sandbox from a 1 GiB setup ($sub${method:+: setup_copy = $method}) vs cp -a of the same tree" "$ns" "$b" - \
      "$name/$sub vs /cp_a (SANDBOX_BENCH_1GIB=1, -benchtime=3x)"
  done <<<"$subs"
}

# fakecfg ENGINE BLOCK N DIR: a configuration of N sandbox_sandbox on a hosted engine's fake in DIR
fakecfg() {
  local eng=$1 block=$2 n=$3 d=$4
  mkdir -p "$d"
  cat >"$d/main.tf" <<TF
terraform {
  required_providers {
    sandbox = { source = "ekairos/sandbox" }
  }
}

provider "sandbox" {
  sqlite_path = "$d/records.db"
  $eng {
    $block
  }
}

resource "sandbox_sandbox" "s" {
  count   = $n
  backend = "$eng"
  purpose = "bench"
}
TF
}

# Rows: create until ready on each hosted fake (300 ms state transitions) with the engine's poll cadence vs a
# 5 ms poll of the same fake (BenchmarkHostedCreateReady), with requests per create.
bench_ready() {
  local f="$work/ready.txt" eng c fp rc rf
  log "create until ready on each hosted fake (BenchmarkHostedCreateReady)"
  gobench "$f" ./bench '^BenchmarkHostedCreateReady$' -benchtime=10x || true
  for eng in daytona vercel sprites; do
    c=$(metric "$f" "BenchmarkHostedCreateReady/$eng/client" ready-ms)
    fp=$(metric "$f" "BenchmarkHostedCreateReady/$eng/fast_poll" ready-ms)
    rc=$(metric "$f" "BenchmarkHostedCreateReady/$eng/client" req/op)
    rf=$(metric "$f" "BenchmarkHostedCreateReady/$eng/fast_poll" req/op)
    if [ -n "$c" ] && [ -n "$fp" ]; then
      row "create until ready on the $eng fake (300 ms state transitions): the engine's poll cadence vs a 5 ms poll" \
        "$(awk -v v="$c" 'BEGIN {printf "%.0f", v * 1e6}')" "$(awk -v v="$fp" 'BEGIN {printf "%.0f", v * 1e6}')" - \
        "median of 10 creates, one after the other; requests per create: $rc with the engine's cadence, $rf with the 5 ms poll (BenchmarkHostedCreateReady)"
    else
      row "create until ready on the $eng fake (300 ms state transitions)" "" "" - "not measured: $(why "$f")"
    fi
  done
}

# Rows: terraform apply of N_FAKE sandboxes on each hosted engine's strict fake (internal/testfakes/cmd/fakeservers,
# loopback, every API request recorded by a proxy in front of the fake) vs N_FAKE terraform_data, then a
# refresh-only plan; the notes give requests per resource of each phase (writes, gets, lists) and the intervals at
# which the most-read object was polled during the apply (growing intervals: the polling backs off).
bench_fakes() {
  setup_terraform
  local fbin="$bin/fakeservers" fdir="$work/fakeservers" url eng block d td sb fpid
  local -A blocks=()
  go build -o "$fbin" ./internal/testfakes/cmd/fakeservers
  # -step: each transitional state (creating, starting) lasts 300 ms, so that a create has something to poll.
  "$fbin" -out "$fdir" -root "$work/fakes-root" -record -step 300ms >"$work/fakeservers.log" 2>&1 &
  fpid=$!
  for _ in $(seq 1 100); do
    [ -e "$fdir/control.env" ] && break
    sleep 0.1
  done
  if [ ! -e "$fdir/control.env" ]; then
    log "fakeservers did not start: $(cat "$work/fakeservers.log")"
    kill "$fpid" 2>/dev/null || true
    return 0
  fi
  url=$(sed -n 's/^FAKESERVERS_URL=//p' "$fdir/control.env")
  fv() { sed -n "s/^$2=//p" "$fdir/$1.env"; }
  d="$work/fake-td"
  tfdir data "$n_fake" "$d"
  td=$(tftime "$d" apply -auto-approve -parallelism=10)
  for eng in daytona vercel sprites; do
    case $eng in
      daytona) block="api_key = \"$(fv daytona DAYTONA_API_KEY)\"
    api_url = \"$(fv daytona DAYTONA_API_URL)\"" ;;
      vercel) block="token      = \"$(fv vercel VERCEL_TOKEN)\"
    team_id    = \"$(fv vercel VERCEL_TEAM_ID)\"
    project_id = \"$(fv vercel VERCEL_PROJECT_ID)\"
    api_url    = \"$(fv vercel VERCEL_API_URL)\"" ;;
      sprites) block="token   = \"$(fv sprites SPRITES_API_TOKEN)\"
    api_url = \"$(fv sprites SPRITES_API_URL)\"" ;;
    esac
    d="$work/fake-$eng"
    fakecfg "$eng" "$block" "$n_fake" "$d"
    log "apply $n_fake sandbox_sandbox on the $eng fake"
    "$fbin" -get "$url/requests?engine=$eng&reset=1" >/dev/null
    if ! sb=$(tftime "$d" apply -auto-approve -parallelism=10 -compact-warnings); then
      row "terraform apply: $n_fake sandbox_sandbox on the $eng fake vs $n_fake terraform_data" "" "" - "apply failed (see the log above)"
      continue
    fi
    local applied refreshed
    applied=$("$fbin" -get "$url/summary?engine=$eng&n=$n_fake&reset=1")
    tftime "$d" plan -refresh-only -compact-warnings >/dev/null || true
    refreshed=$("$fbin" -get "$url/summary?engine=$eng&n=$n_fake&reset=1")
    tftime "$d" destroy -auto-approve -compact-warnings >/dev/null || log "destroy on the $eng fake failed"
    # What the official client sends for the same flow, and why the provider sends more (BENCHMARKS.md,
    # "Requests per hosted create and refresh").
    local client
    case $eng in
      daytona) client="@daytonaio/sdk: create 3 (POST, then reads until started), refresh 1" ;;
      vercel) client="@vercel/sandbox: create 2 (POST, then a read until running), refresh 1" ;;
      sprites) client="@fly/sprites: create 1, refresh 1; the provider adds 2 writes per sandbox: the deny_all network policy its default asks for (the client sets none) and the state file that holds the sandbox timeout (always set: it defaults to 5m; the API has no field for it)" ;;
    esac
    row "terraform apply: $n_fake sandbox_sandbox on the $eng fake vs $n_fake terraform_data" "$sb" "$td" - \
      "apply: $applied. refresh-only plan: $refreshed (state transitions take 300 ms on the fake). Official client, $client"
    blocks[$eng]=$block
  done
  # A fleet: N_FLEET sandboxes made once (untimed), then a refresh-only plan whose API requests are counted.
  # Before the refresh by list it was one GET per sandbox (N_FLEET requests); the goal is the list's pages.
  local pages n_req plan_ok
  for eng in daytona vercel sprites; do
    d="$work/fleet-$eng"
    fakecfg "$eng" "${blocks[$eng]}" "$n_fleet" "$d"
    log "creating $n_fleet sandbox_sandbox on the $eng fake (untimed)"
    if ! tftime "$d" apply -auto-approve -parallelism=50 -compact-warnings >/dev/null; then
      row "terraform plan -refresh-only of $n_fleet sandboxes on the $eng fake: API requests vs one GET per sandbox" "" "" - "apply failed (see the log above)"
      continue
    fi
    "$fbin" -get "$url/requests?engine=$eng&reset=1" >/dev/null
    log "refresh-only plan of $n_fleet sandboxes on the $eng fake"
    : >"$d/tf.log"
    sb=$(tftime "$d" plan -refresh-only -compact-warnings) || true
    refreshed=$("$fbin" -get "$url/summary?engine=$eng&n=$n_fleet&reset=1")
    n_req=${refreshed%% requests*}
    [ "$refreshed" = "no requests" ] && n_req=0
    case $eng in daytona) pages=$(((n_fleet + 99) / 100)) ;; *) pages=$(((n_fleet + 49) / 50)) ;; esac
    plan_ok="the plan was empty"
    grep -q "No changes" "$d/tf.log" || plan_ok="**the plan was not empty**"
    row "terraform plan -refresh-only of $n_fleet sandboxes on the $eng fake: API requests vs one GET per sandbox" \
      "$n_req requests" "$n_fleet requests" "$(awk -v p="$pages" -v n="$n_fleet" 'BEGIN {printf "%.3f", p / n}')" \
      "$refreshed; goal: the list's $pages pages ($([ "$eng" = daytona ] && echo 100 || echo 50) a page); $plan_ok; plan took $(secs "$sb") s" \
      "$(awk -v a="$n_req" -v b="$n_fleet" 'BEGIN {printf "%.4f", a / b}')"
  done
  kill "$fpid" 2>/dev/null || true
  wait "$fpid" 2>/dev/null || true
}

skipped tf || bench_terraform
skipped exec || bench_exec
skipped sqlite || bench_sqlite
skipped postgres || bench_postgres
skipped instantdb || bench_instantdb
skipped setup || bench_setup
skipped fakes || bench_fakes
skipped ready || bench_ready

# ---------------------------------------------------------------------------------------------------------
# the table and the report
# ---------------------------------------------------------------------------------------------------------

# human NS: a duration with a unit
table() {
  awk -F'\t' '
    function human(ns) {
      if (ns == "") return "-"
      if (ns !~ /^[0-9.eE+-]+$/) return ns
      if (ns >= 1e9) return sprintf("%.2f s", ns / 1e9)
      if (ns >= 1e6) return sprintf("%.2f ms", ns / 1e6)
      if (ns >= 1e3) return sprintf("%.1f µs", ns / 1e3)
      return sprintf("%d ns", ns)
    }
    BEGIN {
      print "| # | measured vs baseline | measured | baseline | ratio | goal | verdict | notes |"
      print "|---|---|---|---|---|---|---|---|"
    }
    {
      ratio = "-"; verdict = "not measured"
      if ($2 != "" && $3 != "" && $3 > 0) {
        r = ($6 != "") ? $6 + 0 : $2 / $3; ratio = (r < 0.1) ? sprintf("%.2gx", r) : sprintf("%.2fx", r)
        if ($4 == "-") verdict = "(no goal)"
        else if (r <= $4 + 0) verdict = "meets goal"
        else verdict = "**misses goal**"
      }
      goal = ($4 == "-") ? "-" : "<= " $4 "x"
      printf "| %d | %s | %s | %s | %s | %s | %s | %s |\n", NR, $1, human($2), human($3), ratio, goal, verdict, $5
    }' "$rows"
}

machine() {
  local mem cpu
  mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || echo "?")
  cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo "?")
  echo "| machine | |"
  echo "|---|---|"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
  echo "| nproc | $(nproc) |"
  echo "| cpu | ${cpu:-?} |"
  echo "| memory | $mem |"
  echo "| kernel | $(uname -sr) |"
  echo "| go | $(go version | awk '{print $3, $4}') |"
  echo "| terraform | $(terraform version 2>/dev/null | head -1 | awk '{print $2}') |"
  echo "| load average (1, 5, 15 min) | at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null) (other work on the machine shows here and in the numbers) |"
  echo "| mode | $([ "$quick" = 1 ] && echo "quick (BENCH_QUICK=1)" || echo full): $n_apply applied, $n_refresh refreshed, $reps repetition(s) of each terraform timing |"
}

elapsed=$(($(date +%s) - started))
report="$work/report.md"
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` (bench/bench.sh) in ${elapsed} s. Every row is a ratio: what this project does, divided"
  echo "by a baseline measured in the same run on the same machine. Regenerate with \`make bench\`"
  echo "(\`BENCH_QUICK=1 make bench\` for a quick look with 20 / 100 resources)."
  echo
  table
  echo
  machine
  echo
  cat "$extras"
  if [ -f bench/FINDINGS.md ]; then
    echo
    cat bench/FINDINGS.md
  fi
} >"$report"

echo
table
echo
mkdir -p "$(dirname "$out")"
cp "$report" "$out"
echo "bench: wrote $out (${elapsed} s)"
