#!/usr/bin/env python3
"""Runs procactor_bench and the Python multiprocessing comparators in the same run and prints one
JSON object per line: every measurement, and for procactor's the comparator ("baseline",
"baseline_value"), "ratio" (procactor over baseline, in the unit's own direction), the target and
whether it was met. Optionally writes a gnuplot PNG of throughput against message size.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (baseline, comparison, target); comparison ">=" means value/baseline must be >= target
TARGETS = {
    "queue_throughput_64B": ("python_queue_throughput_64B", ">=", 30),
    "queue_throughput_4KiB": ("python_queue_throughput_4KiB", ">=", 10),
    "mailbox_throughput_64B": ("python_queue_throughput_64B", ">=", 30),
    "mailbox_rtt_64B": ("raw_socketpair_rtt_64B", "<=", 1.0),
    "mailbox_rtt_64B_busy_poll": ("raw_socketpair_rtt_64B", "<=", 0.25),
    "routed_rtt_64B": ("raw_socketpair_rtt_64B", "<=", 2.5),
    "actor_start_ready_stop": ("python_process_fork_start_join", "<=", 0.25),
    "process_start_join": ("python_process_fork_start_join", "<=", 1.0),
    "restart_after_kill": (None, "<=", 5.0),               # ms, absolute
    "scale_1000_actors_rss_per_actor": (None, "<=", 2.0),  # MiB, absolute
    "raw_socketpair_throughput_64B": ("python_queue_throughput_64B", None, None),
    "raw_socketpair_throughput_4KiB": ("python_queue_throughput_4KiB", None, None),
}


def run_lines(cmd):
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def plot(results, path):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        print("compare.py: gnuplot not found, no plot", file=sys.stderr)
        return
    sizes = [64, 256, 1024, 4096, 16384]
    rows = []
    for s in sizes:
        a = results.get(f"queue_throughput_sweep_{s}")
        b = results.get(f"python_queue_throughput_sweep_{s}")
        if a and b:
            rows.append(f"{s} {a['value'] / 1e6} {b['value'] / 1e6}")
    if not rows:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        f.write("\n".join(rows) + "\n")
        data = f.name
    script = f"""
set terminal png size 800,500
set output '{path}'
set title 'One-way throughput, one producer and one consumer process (medians)'
set xlabel 'message size (bytes)'
set ylabel 'million messages per second'
set logscale x 2
set logscale y 10
set grid
set key top right
plot '{data}' using 1:2 with linespoints lw 2 title 'procactor queue<T>', \\
     '{data}' using 1:3 with linespoints lw 2 title 'Python multiprocessing.Queue'
"""
    subprocess.run([gnuplot], input=script, text=True, check=True)
    os.unlink(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="path of procactor_bench")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--plot", help="write a PNG of throughput against message size")
    args = ap.parse_args()
    sweep = ["--sweep"] if args.plot else []
    results = {}
    for r in run_lines([sys.executable, os.path.join(HERE, "mp_bench.py"), str(args.reps)] + sweep):
        results[r["name"]] = r
    for r in run_lines([args.bench, "--reps", str(args.reps)] + sweep):
        results[r["name"]] = r
    for name, r in results.items():
        spec = TARGETS.get(name)
        if spec:
            base, cmp, target = spec
            if base and base in results:
                r["baseline"] = base
                r["baseline_value"] = results[base]["value"]
                r["ratio"] = round(r["value"] / results[base]["value"], 4) if results[base]["value"] else None
            if cmp:
                measured = r.get("ratio") if base else r["value"]
                r["target"] = f"{cmp} {target}" + ("x" if base else " " + r["unit"])
                if measured is not None:
                    r["met"] = measured >= target if cmp == ">=" else measured <= target
        if name == "scale_1000_actors_wall":
            r["met"] = bool(r.get("ok"))
        r.pop("samples", None) if len(r.get("samples", [])) > 20 else None
        print(json.dumps(r), flush=True)
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
