#!/usr/bin/env bash
# Runs every test: unit tests, store and engine suites against real SQLite, bubblewrap and PostgreSQL, and the
# acceptance tests with the real terraform binary (TF_ACC=1). .ci/run calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh --tests

export TF_ACC=1 CHECKPOINT_DISABLE=1
export TF_ACC_TERRAFORM_PATH="${TF_ACC_TERRAFORM_PATH:-$(command -v terraform)}"
# Never read the machine's CLI configuration: the acceptance tests write their own.
export TF_CLI_CONFIG_FILE=/dev/null

echo "== go vet"
go vet ./...
echo "== go test (unit, store and engine suites, acceptance)"
go test -count=1 -timeout 25m ./... 2>&1 | tee .test-output.txt

echo "== docs are generated from the schema (scripts/check-docs.sh)"
scripts/check-docs.sh
echo "== examples are fmt clean, validate and apply (scripts/check-examples.sh)"
scripts/check-examples.sh
echo "== terraform test suite (scripts/tftest.sh)"
scripts/tftest.sh
echo "== golangci-lint (scripts/lint.sh)"
scripts/lint.sh
echo "== kill test (scripts/killtest.sh): SIGKILLed and interrupted applies, then sweep, apply, destroy"
scripts/killtest.sh
