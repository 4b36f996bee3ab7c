#!/usr/bin/env bash
# Runs every test: unit tests, store and engine suites against real SQLite, bubblewrap and PostgreSQL, and the
# acceptance tests with the real terraform binary (TF_ACC=1). .ci/run calls exactly this script.
#
# The provider's acceptance suite runs twice: under the terraform on PATH (1.11 on the project's machines: what
# users of 1.11 and OpenTofu get) and under terraform >= 1.14 (list resources, `terraform query`, resource
# identity), whose tests skip themselves below 1.14. A machine without a terraform >= 1.14 builds one from
# source once (scripts/build-terraform.sh): the build starts here, in the background, and the 1.14 suite runs
# as soon as both it and the first suite are done, beside the later steps.
# SANDBOX_TERRAFORM_CACHE=<empty dir> measures a run on a machine without the cached build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh --tests

tf114_path=.terraform-1.14.path
tf114_log=.terraform-1.14.log
rm -f "$tf114_path"
# Background jobs run in process groups of their own (setsid), so that a failed run stops them and their children.
setsid scripts/ensure-deps.sh --terraform-1.14 >"$tf114_path" 2>"$tf114_log" &
tf114_build=$!
tf114_suite=
vm_test=
cleanup() {
  for pid in $tf114_build $tf114_suite $vm_test; do kill -- "-$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

export TF_ACC=1 CHECKPOINT_DISABLE=1
export TF_ACC_TERRAFORM_PATH="${TF_ACC_TERRAFORM_PATH:-$(command -v terraform)}"
# Never read the machine's CLI configuration: the acceptance tests write their own.
export TF_CLI_CONFIG_FILE=/dev/null

echo "== go vet"
go vet ./...
echo "== go test (unit, store and engine suites, acceptance)"
go test -count=1 -timeout 25m ./... 2>&1 | tee .test-output.txt

echo "== terraform >= 1.14 for the provider's acceptance suite (scripts/ensure-deps.sh --terraform-1.14)"
if ! wait "$tf114_build"; then
  tf114_build=
  cat "$tf114_log" >&2
  echo "error: no terraform >= 1.14 (see above)" >&2
  exit 1
fi
tf114_build=
tf114="$(tail -1 "$tf114_path")"
"$tf114" version | sed -n 1p
echo "== go test ./internal/provider under $("$tf114" version | sed -n 1p) (in the background; its output: .test-output-1.14.txt)"
TF_ACC_TERRAFORM_PATH="$tf114" setsid go test -count=1 -timeout 25m ./internal/provider >.test-output-1.14.txt 2>&1 &
tf114_suite=$!

# The machines of this project bind the pids and memory controllers to cgroup v1; most users' hosts have them on
# the unified cgroup v2 hierarchy. The local engine's cgroup tests run on such a kernel in a qemu VM (about 3 min
# of emulation, a qemu and kernel download the first time), in the background beside the later steps.
echo "== the local engine's cgroup tests on a cgroup v2 kernel, in a VM (scripts/vm-cgroup2-test.sh; in the background, its output: .test-output-vm.txt)"
setsid scripts/vm-cgroup2-test.sh >.test-output-vm.txt 2>&1 &
vm_test=$!

echo "== docs are generated from the schema (scripts/check-docs.sh)"
scripts/check-docs.sh
echo "== examples are fmt clean, validate and apply (scripts/check-examples.sh)"
scripts/check-examples.sh
echo "== examples under terraform >= 1.14: all validate (import by identity, list blocks), those that need it apply (scripts/check-examples.sh)"
EXAMPLES_APPLY=newer TF_ACC_TERRAFORM_PATH="$tf114" scripts/check-examples.sh
echo "== terraform test suite (scripts/tftest.sh)"
scripts/tftest.sh
echo "== golangci-lint (scripts/lint.sh)"
scripts/lint.sh
echo "== kill test (scripts/killtest.sh): SIGKILLed and interrupted applies, then sweep, apply, destroy"
scripts/killtest.sh

echo "== the provider's acceptance suite under terraform >= 1.14"
if ! wait "$tf114_suite"; then
  tf114_suite=
  cat .test-output-1.14.txt
  echo "error: the provider's acceptance suite failed under $tf114" >&2
  exit 1
fi
tf114_suite=
tail -3 .test-output-1.14.txt

echo "== the local engine's cgroup tests on cgroup v2, in a VM (scripts/vm-cgroup2-test.sh)"
vm_rc=0
wait "$vm_test" || vm_rc=$?
vm_test=
case "$vm_rc" in
0) grep -E '^(--- |    --- |the VM ran|ok:)' .test-output-vm.txt ;;
77) grep '^SKIP' .test-output-vm.txt || tail -5 .test-output-vm.txt ;; # qemu or a kernel cannot be installed here
*)
  cat .test-output-vm.txt
  echo "error: the local engine's cgroup tests failed on cgroup v2 (scripts/vm-cgroup2-test.sh)" >&2
  exit 1
  ;;
esac
