#!/bin/bash
# ferrite vs PyTorch on the round-2 layers, alternated (ferrite, torch, ferrite, torch, ...)
# in one sitting; prints the median of each system's medians and the ratio per case.
#   benches/layers_ab.sh [rounds] [threads]
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; THREADS=${2:-2}
cargo build --release --example bench_layers >/dev/null 2>&1 || exit 1
LOG=$(mktemp)
date -u; uptime
for r in $(seq "$ROUNDS"); do
  ./target/release/examples/bench_layers --threads "$THREADS" >>"$LOG"
  ~/torch-venv/bin/python benches/layers_torch.py --threads "$THREADS" >>"$LOG"
done
uptime
python3 - "$LOG" <<'PY'
import statistics, sys
from collections import defaultdict
t = defaultdict(lambda: defaultdict(list))
order = []
for line in open(sys.argv[1]):
    _, system, case, fwd, both = line.split()
    if case not in order: order.append(case)
    t[case][system].append((float(fwd), float(both)))
print("| case | ferrite fwd ms | torch fwd ms | ratio | ferrite fwd+bwd ms | torch fwd+bwd ms | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|")
for c in order:
    f = [statistics.median(x) for x in zip(*t[c]["ferrite"])]
    p = [statistics.median(x) for x in zip(*t[c]["torch"])]
    print(f"| {c} | {f[0]:.3f} | {p[0]:.3f} | {f[0]/p[0]:.2f} | {f[1]:.3f} | {p[1]:.3f} | {f[1]/p[1]:.2f} |")
PY
