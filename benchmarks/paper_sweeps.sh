#!/usr/bin/env bash
# Every comparison of docs/RESULTS.md, one sweep file after another in the order of their priority,
# so the machine moves on to the next block without anyone there when a block ends:
#   nohup ./benchmarks/paper_sweeps.sh /data/lookahead_runs > paper_sweeps.log 2>&1 &
#   ./benchmarks/paper_sweeps.sh /data/lookahead_runs --dry-run   # where each file stands (search.py options pass on)
# Each file runs through src/search.py with its results in RUNS/<file> (outside the checkout; the
# files resume from checkpoints and skip completed trials, so running this again goes on where it
# stopped); after each file, scripts/collect_runs.py copies its finished runs' small files under
# benchmarks/results/paper/<task>/ for committing, and the runs found there count as done
# (search.py --completed-in), so on a new machine only what no committed run finished runs again
# (a stopped run's checkpoints stay in RUNS_DIR: lost with it, that run starts over).
# Stop it with `kill <pid of search.py>` (SIGTERM:
# the running trials save a checkpoint and end INTERRUPTED, and this script stops after them).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:?usage: paper_sweeps.sh RUNS_DIR [search.py options] (results kept in RUNS_DIR, one folder per sweep file)}
shift
python=${PYTHON:-.venv/bin/python}

# sweep file stem -> the task folder its runs are collected into (a task's variants share one)
order=(
  "paper_halfcheetah_2x3 halfcheetah_2x3"
  "paper_ant_2x4 ant_2x4"
  "paper_halfcheetah_2x3_controls halfcheetah_2x3"
  "paper_ant_2x4_controls ant_2x4"
  "paper_halfcheetah_2x3_lka_steps halfcheetah_2x3_lka_steps"
  "gfootball_3v1 gfootball_3v1"
)
for entry in "${order[@]}"; do
  read -r stem task <<< "$entry"
  echo "[paper_sweeps] $(date -u +%FT%TZ) $stem"
  if [ "$stem" = gfootball_3v1 ] && ! "$python" -c "import gfootball.env" > /dev/null 2>&1; then
    echo "[paper_sweeps] $stem skipped: gfootball does not import in $python (./scripts/install_football.sh installs it)"
    continue
  fi
  completed=()  # the runs of this block committed earlier count as done (a new machine's RUNS_DIR is empty)
  [ -d "benchmarks/results/paper/$task/sacred" ] && completed=(--completed-in "benchmarks/results/paper/$task")
  "$python" src/search.py "benchmarks/sweeps/$stem.yaml" --results "$runs/$stem" --num-cpus 3 "${completed[@]}" "$@"
  code=$?
  [ -d "$runs/$stem/sacred" ] && "$python" scripts/collect_runs.py "$runs/$stem" "benchmarks/results/paper/$task"
  if [ "$code" -ge 128 ]; then  # stopped by a signal: leave the rest for the next start
    echo "[paper_sweeps] $stem stopped (exit $code); run this script again to go on"
    exit "$code"
  fi
  [ "$code" -eq 0 ] || echo "[paper_sweeps] $stem: some trials failed (exit $code), see its log; going on"
done
echo "[paper_sweeps] $(date -u +%FT%TZ) went through every sweep file (each one's summary is above)"
