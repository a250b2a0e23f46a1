#!/usr/bin/env bash
# Runs every fuzz target for a short time (FUZZTIME each, default 8s) and exits
# non-zero on the first failure. A failing input is written by go test under the
# package's testdata/fuzz/<target>/; commit it as a regression seed once fixed.
# About 2.5 minutes on two cores, builds included. The targets are listed
# explicitly: add new ones here.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME="${FUZZTIME:-8s}"
# Minimizing a new input replays it many times; large inputs (a stored rollout
# state) would otherwise spend the whole budget there.
MINIMIZE="${FUZZMINIMIZETIME:-2s}"

targets=(
  # package              target
  ".                      FuzzPlanValidate"
  ".                      FuzzPlanDecodeRoundTrip"
  ".                      FuzzCheckDecode"
  ".                      FuzzRoutesValidate"
  "./strategy             FuzzCanaryPlan"
  "./strategy             FuzzStrategyPlans"
  "./analysis             FuzzRender"
  "./analysis             FuzzValidateTemplates"
  "./analysis             FuzzQueryWindow"
  "./rollout              FuzzStoredState"
)

start=$(date +%s)
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "--- fuzz $pkg $name ($FUZZTIME)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$MINIMIZE" "$pkg"; then
    echo "FAIL: fuzz target $name in $pkg" >&2
    exit 1
  fi
done
echo "--- fuzz: ${#targets[@]} targets passed in $(( $(date +%s) - start ))s"
