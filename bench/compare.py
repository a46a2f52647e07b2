#!/usr/bin/env python3
"""Runs procactor_bench and the Python multiprocessing comparators in the same run and prints one
JSON object per line: every measurement, and for procactor's the comparator ("baseline",
"baseline_value"), "ratio" (procactor over baseline, in the unit's own direction; for
pipeline_oversubscribed the baseline over procactor, "ratio_of" says so), the target and whether it
was met. A line with several targets lists each in "checks" ({"target", "measured", "met"}) and is
"met" only when all are. Exits non-zero when a benchmark failed (say, the pipeline's totals differ);
a summary of the checks goes to stderr. Optionally writes a gnuplot PNG of throughput against size.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# name: checks, the first one also reported in the flat "baseline"/"ratio"/"target" fields.
#   ("ratio", baseline, cmp, target):   value / baseline <cmp> target
#   ("speedup", baseline, cmp, target): baseline / value <cmp> target (times, lower is better)
#   ("abs", field, cmp, target):        r[field] <cmp> target, in the line's unit
#   ("rel", field, cmp, k, other):      r[field] <cmp> k * r[other]
#   ("ok",):                            r["ok"] is true (the run completed and its checks passed)
#   ("baseline", baseline):             ratio only, no target
TARGETS = {
    "queue_throughput_64B": [("ratio", "python_queue_throughput_64B", ">=", 60)],
    "queue_throughput_4KiB": [("ratio", "python_queue_throughput_4KiB", ">=", 10)],
    "mailbox_throughput_64B": [("ratio", "python_queue_throughput_64B", ">=", 60),
                               ("abs", "value", ">=", 3.3e6)],  # CAF's in-process actors on this machine
    "mailbox_throughput_64B_from_handle": [("ratio", "python_queue_throughput_64B", ">=", 30)],
    "mailbox_rtt_64B": [("ratio", "raw_socketpair_rtt_64B", "<=", 1.0),
                        ("abs", "p50", "<=", 1.0),
                        ("rel", "p99", "<=", 3, "p50")],
    "mailbox_rtt_64B_busy_poll": [("ratio", "raw_socketpair_rtt_64B", "<=", 0.25)],
    "routed_rtt_64B": [("ratio", "raw_socketpair_rtt_64B", "<=", 2.5)],
    "actor_start_ready_stop": [("ratio", "python_process_fork_start_join", "<=", 0.25)],
    "process_start_join": [("ratio", "python_process_fork_start_join", "<=", 1.0)],
    "tree_start_stop": [("abs", "value", "<=", 2.0)],  # ms
    "restart_after_kill": [("abs", "value", "<=", 5.0)],  # ms
    "pipeline_oversubscribed": [("speedup", "python_pipeline_oversubscribed", ">=", 20), ("ok",)],
    "scale_1000_actors_wall": [("ok",)],
    "scale_1000_actors_rss_per_actor": [("abs", "value", "<=", 2.0)],  # MiB
    "scale_10000_actors_wall": [("ok",), ("abs", "value", "<", 30.0)],  # s
    "scale_10000_actors_rss_per_actor": [("abs", "value", "<=", 0.2)],  # MiB
    "cli_top_once_1000_actors": [("abs", "value", "<", 200.0), ("ok",)],  # ms
    "mailbox_throughput_64B_with_top": [("abs", "ratio_to_without", ">=", 0.9)],  # nothing measurable, within noise
    "at_least_once_throughput_64B": [("abs", "ratio_to_default", ">=", 0.5)],  # issue #11: >= 0.5x the default, same run
    "pool_map_small_tasks": [("ratio", "python_pool_map_small_tasks", ">=", 10), ("ok",)],
    "pool_map_with_kills": [("ok",)],  # python_pool_map_with_kills: hung (cut by its timeout)
    "raw_socketpair_throughput_64B": [("baseline", "python_queue_throughput_64B")],
    # issue #12 (cluster_bench; the raw NATS lines are measured in the same run, interleaved)
    "cluster_rtt_64B": [("ratio", "nats_rtt_64B", "<=", 1.5), ("abs", "p50", "<=", 300.0)],  # us
    "cluster_throughput_64B": [("baseline", "nats_publish_64B"), ("abs", "value", ">=", 300000.0)],  # msg/s
    # at-least-once across nodes (cluster_options::delivery): reported beside the default, no target
    "cluster_throughput_64B_at_least_once": [("baseline", "cluster_throughput_64B")],  # msg/s
    "node_down_detection": [("abs", "p99", "<=", 1000.0)],  # ms
    "node_down_detection_link_cut": [("abs", "p99", "<=", 1000.0)],  # ms (root only: network namespaces)
    "raw_socketpair_throughput_4KiB": [("baseline", "python_queue_throughput_4KiB")],
}

OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}


def check(r, spec, results):
    """One check of line r: (description, measured, met); met is None when it cannot be evaluated."""
    kind = spec[0]
    if kind in ("ratio", "speedup", "baseline"):
        base = spec[1]
        b = results.get(base, {}).get("value")
        v = r.get("value")
        if not b or not v:
            return None
        ratio = round(v / b if kind != "speedup" else b / v, 4)
        if kind == "baseline":
            return ("ratio to " + base, ratio, None)
        desc = (f"{base} / value" if kind == "speedup" else f"value / {base}") + f" {spec[2]} {spec[3]}"
        return (desc, ratio, OPS[spec[2]](ratio, spec[3]))
    if kind == "abs":
        field, cmp, target = spec[1:]
        v = r.get(field)
        return (f"{field} {cmp} {target:g} {r.get('unit', '')}".strip(), v, None if v is None else OPS[cmp](v, target))
    if kind == "rel":
        field, cmp, k, other = spec[1:]
        v, o = r.get(field), r.get(other)
        if v is None or not o:
            return (f"{field} {cmp} {k}x {other}", None, None)
        return (f"{field} {cmp} {k}x {other}", round(v / o, 4), OPS[cmp](v, k * o))
    if kind == "ok":
        return ("ok", bool(r.get("ok")), bool(r.get("ok")))
    raise ValueError(kind)


def annotate(r, results):
    """Adds the comparator, ratio, target and met fields to line r; returns the checks' met values."""
    specs = TARGETS.get(r["name"])
    if not specs:
        return []
    first = specs[0]
    if first[0] in ("ratio", "speedup", "baseline") and first[1] in results:
        r["baseline"] = first[1]
        r["baseline_value"] = results[first[1]]["value"]
        if first[0] == "speedup":
            r["ratio_of"] = "baseline / value"
    checks = []
    for spec in specs:
        c = check(r, spec, results)
        if c is None:
            checks.append({"target": f"{spec[0]} {spec[1]}", "measured": None, "met": False})
            continue
        desc, measured, met = c
        if spec is first and spec[0] in ("ratio", "speedup", "baseline"):
            r["ratio"] = measured
        if met is None and spec[0] == "baseline":
            continue
        checks.append({"target": desc, "measured": measured, "met": bool(met)})
    if checks:
        r["target"] = checks[0]["target"]
        r["met"] = all(c["met"] for c in checks)
        if len(checks) > 1:
            r["checks"] = checks
    return checks


def run_lines(cmd):
    """The JSON lines a benchmark printed, and whether it exited with 0."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        print(f"compare.py: FAILED: {' '.join(cmd)} exited with {proc.returncode}", file=sys.stderr)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")], proc.returncode == 0


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
    ap.add_argument("--reps", type=int, default=None, help="repetitions per measurement (default 5; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="one repetition, no scale_10000_actors")
    ap.add_argument("--plot", help="write a PNG of throughput against message size")
    ap.add_argument("--cluster-bench", help="path of cluster_bench (built with libnats only)")
    ap.add_argument("--only", help="run only the measurements whose name contains this")
    args = ap.parse_args()
    reps = args.reps if args.reps is not None else (1 if args.quick else 5)
    sweep = ["--sweep"] if args.plot else []
    skip = ["--skip", "scale_10000"] if args.quick else []
    only = args.only or ""
    # the cluster lines, and cluster_bench's mode for each
    cluster_modes = {"cluster_rtt_64B": "rtt", "nats_rtt_64B": "rtt", "cluster_throughput_64B": "throughput",
                     "cluster_throughput_64B_at_least_once": "throughput", "nats_publish_64B": "throughput", "node_down_detection": "down",
                     "node_down_detection_link_cut": "cuts"}
    modes = sorted({m for n, m in cluster_modes.items() if only in n or only == "cluster"})
    local = not only or not modes  # procactor_bench and mp_bench: unless --only names a cluster line
    # the pipeline's input, written once and read by both pipelines
    sys.path.insert(0, HERE)
    import mp_bench
    fd, lines = tempfile.mkstemp(prefix="procactor_lines_")
    os.close(fd)
    all_ok = True
    try:
        mp_bench.write_lines(lines, mp_bench.LINES)
        results = {}
        if local:
            got, ok = run_lines([sys.executable, os.path.join(HERE, "mp_bench.py"), str(reps), "--lines", lines] + sweep)
            all_ok &= ok
            for r in got:
                results[r["name"]] = r
            got, ok = run_lines([args.bench, "--reps", str(reps), "--lines", lines] + sweep + skip +
                                (["--only", only] if only else []))
            all_ok &= ok
            for r in got:
                results[r["name"]] = r
        if modes:
            if not args.cluster_bench or not os.path.exists(args.cluster_bench):
                for n in ("cluster_rtt_64B", "cluster_throughput_64B", "node_down_detection",
                          "node_down_detection_link_cut"):
                    if cluster_modes[n] in modes:
                        results[n] = {"name": n, "skipped": "cluster_bench not built (libnats not found: "
                                                            "PROCACTOR_WITH_NATS=OFF)"}
            else:
                mode = modes[0] if len(modes) == 1 else None
                cmd = [args.cluster_bench, "--reps", str(reps)] + (["--only", mode] if mode else [])
                if args.quick:
                    cmd += ["--kills", "5", "--cuts", "5", "--msgs", "100000"]
                got, ok = run_lines(cmd)
                all_ok &= ok
                for r in got:
                    results[r["name"]] = r
    finally:
        os.unlink(lines)
    met, missed = 0, []
    for name, r in results.items():
        if "skipped" in r:  # (nats-server or libnats missing: said so, no check)
            print(json.dumps(r), flush=True)
            print(f"compare.py: skipped {name}: {r['skipped']}", file=sys.stderr)
            continue
        for c in annotate(r, results):
            if c["met"]:
                met += 1
            else:
                missed.append(f"{name}: {c['target']} (measured {c['measured']})")
        r.pop("samples", None) if len(r.get("samples", [])) > 20 else None
        print(json.dumps(r), flush=True)
    print(f"compare.py: {met} of {met + len(missed)} checks met", file=sys.stderr)
    for m in missed:
        print(f"compare.py:   missed {m}", file=sys.stderr)
    if args.plot:
        plot(results, args.plot)
    if not all_ok:
        sys.exit("compare.py: FAILED: a benchmark failed (see above); the figures printed are incomplete")


if __name__ == "__main__":
    main()
