#!/usr/bin/env python3
"""Summarise a log of benches/ab.sh: per workload, the median over rounds of each system's
median time, and the ratio ferrite / PyTorch of those medians (plus the per-round ratios)."""
import re, statistics, sys
from collections import defaultdict

rounds = defaultdict(lambda: defaultdict(list))  # section -> (system, workload) -> [ms]
section = "2 threads"
for line in open(sys.argv[1]):
    if line.startswith("## 1 thread"):
        section = "1 thread"
    elif line.startswith("## batch"):
        section = "batch"
    elif line.startswith("## W5d"):
        section = "W5"
    elif line.startswith("## W7"):
        section = "W7"
    elif line.startswith("## round"):
        section = "2 threads"
    if line.startswith("RESULT"):
        f = line.rstrip("\n").split("\t")
        system, w, med = f[1], f[2], float(f[3])
        if section == "batch":
            w = "W4 batch " + re.search(r"batch (\d+)", f[7]).group(1)
        elif section == "W5":
            w = "W5d" if "0.02" in line or len(re.findall(r"[0-9.]+", f[7].split("epoch_mean_loss")[1])) == 5 else "W5"
        rounds[section][(system, w)].append(med)
    m = re.match(r"TIME (\S+) wall ([0-9.]+) s maxrss (\d+) KiB", line)
    if m:
        rounds["process"][(m.group(1), "wall s")].append(float(m.group(2)))
        rounds["process"][(m.group(1), "maxrss MB")].append(int(m.group(3)) / 1024)

for section, d in rounds.items():
    print(f"# {section}")
    for (system, w), v in sorted(d.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"{w:14s} {system:14s} median {statistics.median(v):10.3f}  all {v}")
    ws = sorted({w for (_, w) in d})
    for w in ws:
        f, t = d.get(("ferrite", w)), d.get(("pytorch", w))
        if f and t:
            per = [round(a / b, 2) for a, b in zip(f, t)]
            print(f"RATIO {w:12s} ferrite/pytorch {statistics.median(f) / statistics.median(t):.2f}  per round {per}")
