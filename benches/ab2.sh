#!/bin/bash
# Round 2 A/B: every workload of WORKLOADS.md, ferrite then PyTorch, alternated, one sitting.
# Usage: benches/ab2.sh [rounds] > run.log 2>&1; python3 benches/ratios.py run.log
# W5d and W7 run once per side at the end (each takes tens of seconds), under /usr/bin/time.
cd "$(dirname "$0")/.."
PY=~/torch-venv/bin/python
TB=../shared/bench/torch_bench.py
FB=${FB:-./target/release/examples/bench}
T1='import sys,runpy,torch; o=torch.set_num_threads; torch.set_num_threads=lambda n: o(1); sys.argv=sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")'
date -u; uptime; rustc --version; $PY -c 'import torch; print("torch", torch.__version__)'
for round in $(seq 1 "${1:-3}"); do
  echo "## round $round $(uptime)"
  $FB W0 W1 W1b W2 W3 W4 W6 W8 W9 --threads 2
  $PY $TB W0 W1 W1b W2 W3 W4 W6 W8 W9
  echo "## 1 thread"
  $FB W4 --threads 1
  $PY -c "$T1" $TB W4
done
echo "## W5d $(uptime)"
/usr/bin/time -f "TIME ferrite-W5d wall %e s maxrss %M KiB" $FB W5 --lr 0.02 --epochs 5 --threads 2 2>&1 | grep -E 'RESULT|TIME'
/usr/bin/time -f "TIME torch-W5d wall %e s maxrss %M KiB" $PY $TB W5 --lr 0.02 --epochs 5 2>&1 | grep -E 'RESULT|TIME'
echo "## W7 $(uptime)"
/usr/bin/time -f "TIME ferrite-W7 wall %e s maxrss %M KiB" $FB W7 --threads 2 2>&1 | grep -E 'RESULT|TIME|skipped'
/usr/bin/time -f "TIME torch-W7 wall %e s maxrss %M KiB" $PY $TB W7 2>&1 | grep -E 'RESULT|TIME'
date -u; uptime
