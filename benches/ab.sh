#!/bin/bash
# A/B/A/B: ferrite vs PyTorch, one sitting.
cd "$(dirname "$0")/.."
PY=~/torch-venv/bin/python
TB=../shared/bench/torch_bench.py
FB=./target/release/examples/bench
T1='import sys,runpy,torch; o=torch.set_num_threads; torch.set_num_threads=lambda n: o(1); sys.argv=sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")'
date -u; uname -a; lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-120; rustc --version; $PY -c 'import torch; print("torch", torch.__version__)'
for round in 1 2 3; do
  echo "## round $round"
  $FB W0 W1 W1b W2 W3 W4 --threads 2
  $PY $TB W0 W1 W1b W2 W3 W4
  echo "## 1 thread"
  $FB W4 --threads 1
  $PY -c "$T1" $TB W4
  echo "## batch scaling (ferrite, 2 threads)"
  for b in 16 64 256; do $FB W4 --batch $b --threads 2; done
  echo "## W5d"
  /usr/bin/time -f "TIME ferrite-mnist wall %e s maxrss %M KiB" ./target/release/examples/mnist --threads 2 --out /tmp/w5run 2>&1 | grep -E 'final|TIME'
  /usr/bin/time -f "TIME torch-W5d wall %e s maxrss %M KiB" $PY $TB W5 --lr 0.02 --epochs 5 2>&1 | grep -E 'RESULT|TIME'
  /usr/bin/time -f "TIME ferrite-W5 wall %e s maxrss %M KiB" $FB W5 --threads 2 2>&1 | grep -E 'RESULT|TIME'
  /usr/bin/time -f "TIME torch-W5 wall %e s maxrss %M KiB" $PY $TB W5 2>&1 | grep -E 'RESULT|TIME'
done
date -u
