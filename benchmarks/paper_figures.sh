#!/usr/bin/env bash
# Every table and figure of docs/RESULTS.md for one task, from the runs committed under
# benchmarks/results/paper/<task>/ (scripts/collect_runs.py puts them there):
#   ./benchmarks/paper_figures.sh halfcheetah_2x3 [--reference "HARL HAPPO=benchmarks/reference/harl_happo_halfcheetah2x3_seed*.csv"]
# Writes benchmarks/results/paper/<task>_<metric>.{png,csv,_table.csv,_at.csv} (and, for the
# return, _improvement.csv and .marl_eval.json); prints each table.
set -euo pipefail
cd "$(dirname "$0")/.."
task=${1:?usage: paper_figures.sh TASK [plot_results options for the return, e.g. --reference NAME=GLOB]}
shift
runs=benchmarks/results/paper/$task
out=benchmarks/results/paper/${task}
python=${PYTHON:-.venv/bin/python}
[ -d "$runs" ] || { echo "paper_figures.sh: no runs at $runs" >&2; exit 2; }

# The greedy test return: curves, final table, ratios to HAPPO, IQM with 95% CIs, P(improvement),
# at the env steps in AT. The default suits HalfCheetah: 976k is the last evaluation of a 1M run
# (16k-step iterations, tests every 64k from 16k), 1M a reference's; Ant's 8k-step iterations test
# last at 960k: AT=200000,500000,960000 ./benchmarks/paper_figures.sh ant_2x4
at=${AT:-200000,500000,976000,1000000}
# Where the task has the controls' runs (blocks c and d): the ratios to the step-size control too, and
# P(improvement) of each Lookahead variant over HAPPO, over that control, over MAPPO and over each other.
has_group() { grep -rqs --include=config.json "\"name\": \"$1\"" "$runs"; }
controls=()
has_group happo_x2 && controls+=(--ratio-to happo_x2)
for pair in lookahead_happo:happo_x2 lookahead_happo:mappo lookahead_happo_authors:happo \
            lookahead_happo_authors:lookahead_happo lookahead_happo_authors:happo_x2; do
  has_group "${pair%%:*}" && has_group "${pair##*:}" && controls+=(--improvement "$pair")
done
"$python" src/plot_results.py "$runs" --at "$at" --ratio-to happo --iqm \
  --improvement lookahead_happo:happo "${controls[@]}" --marl-eval "${out}_test_return.marl_eval.json" \
  --out "${out}_test_return" "$@"
# Lookahead's diagnostics over training (Lookahead runs only log them).
for metric in kl_gap kl_gap_agent0 kl_gap_agent1 rho_mean rho_clipped_fraction model_val_next_state_mse \
              model_val_reward_r2; do
  "$python" src/plot_results.py "$runs" --metric "$metric" --out "${out}_${metric}"
done
# The gap in the direction of the authors' code (logged by runs from 2026-12-06 on; skipped where none did).
if grep -rqs --include=metrics.json '"kl_gap_reverse"' "$runs"; then
  "$python" src/plot_results.py "$runs" --metric kl_gap_reverse --out "${out}_kl_gap_reverse"
fi
# The spread of every algorithm's Gaussian actions (how much it still explores).
"$python" src/plot_results.py "$runs" --metric action_std --out "${out}_action_std"
# Each phase's wall time per iteration (seconds).
for metric in time_real_rollout time_real_update time_model time_imagination time_lookahead_update; do
  "$python" src/plot_results.py "$runs" --metric "$metric" --out "${out}_${metric}"
done
