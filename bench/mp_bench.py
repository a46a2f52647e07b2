#!/usr/bin/env python3
"""The Python multiprocessing side of the benchmarks: the same workloads as procactor_bench.

Prints one JSON object per line: {"name", "value", "unit", "reps", "samples"}.
"""
import argparse
import json
import multiprocessing as mp
import os
import statistics
import tempfile
import time


def emit(name, samples, unit):
    print(json.dumps({"name": name, "value": statistics.median(samples), "unit": unit,
                      "reps": len(samples), "samples": samples}), flush=True)


def consume(q, n):
    for _ in range(n):
        q.get()


def queue_throughput(size, n):
    q = mp.Queue(1024)
    p = mp.Process(target=consume, args=(q, n))
    p.start()
    msg = b"x" * size
    t0 = time.perf_counter()
    for _ in range(n):
        q.put(msg)
    p.join()
    return n / (time.perf_counter() - t0)


def echo(conn, n):
    for _ in range(n):
        conn.send_bytes(conn.recv_bytes())


def pipe_rtt_us(n):
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b, n))
    p.start()
    msg = b"x" * 64
    rtts = []
    for _ in range(n):
        t0 = time.perf_counter()
        a.send_bytes(msg)
        a.recv_bytes()
        rtts.append((time.perf_counter() - t0) * 1e6)
    p.join()
    return statistics.median(rtts)


def nothing():
    pass


def start_join_us(ctx):
    t0 = time.perf_counter()
    p = ctx.Process(target=nothing)
    p.start()
    p.join()
    return (time.perf_counter() - t0) * 1e6


# ---- pipeline_oversubscribed: reader -> 4 parsers -> aggregator (Process + Queue), as a new user
# writes it: one Queue per parser fed round robin, a None per parser at the end, a result Queue.
PARSERS = 4
LINES = 200000
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


def write_lines(path, n):
    """The lines both pipelines read (procactor_bench writes the same ones)."""
    with open(path, "w") as f:
        for i in range(n):
            f.write(f"{WORDS[(i * 7) % 10]} {i} {(i * i) % 1000003}\n")


def parse_line(line):
    word, a, b = line.split(" ")  # exactly three fields, or ValueError
    return word, int(a), int(b)


def new_totals():
    return {"lines": 0, "sum_a": 0, "sum_b": 0, "per_word": {}}


def add(totals, word, a, b):
    totals["lines"] += 1
    totals["sum_a"] += a
    totals["sum_b"] += b
    totals["per_word"][word] = totals["per_word"].get(word, 0) + 1


def reader(path, queues):
    with open(path) as f:
        for i, line in enumerate(f):
            queues[i % len(queues)].put(line.rstrip("\n"))
    for q in queues:
        q.put(None)


def parser(inbox, out):
    while (line := inbox.get()) is not None:
        out.put(parse_line(line))
    out.put(None)


def aggregator(inbox, result, parsers):
    totals = new_totals()
    ends = 0
    while ends < parsers:
        item = inbox.get()
        if item is None:
            ends += 1
        else:
            add(totals, *item)
    result.put((totals, time.perf_counter()))  # perf_counter is CLOCK_MONOTONIC: comparable across processes


def pipeline_s(path, expected):
    t0 = time.perf_counter()
    lines = [mp.Queue() for _ in range(PARSERS)]
    parsed, result = mp.Queue(), mp.Queue()
    procs = [mp.Process(target=aggregator, args=(parsed, result, PARSERS))]
    procs += [mp.Process(target=parser, args=(q, parsed)) for q in lines]
    procs += [mp.Process(target=reader, args=(path, lines))]
    for p in procs:
        p.start()
    totals, done = result.get()
    for p in procs:
        p.join()
    if totals != expected:
        raise SystemExit(f"python_pipeline_oversubscribed: FAILED: totals differ: got {totals}, expected {expected}")
    return done - t0


def pipeline(reps, path):
    own = not path
    if own:
        fd, path = tempfile.mkstemp(prefix="procactor_lines_")
        os.close(fd)
        write_lines(path, LINES)
    expected = new_totals()
    with open(path) as f:
        for line in f:
            add(expected, *parse_line(line.rstrip("\n")))
    samples = [pipeline_s(path, expected) for _ in range(reps)]
    if own:
        os.unlink(path)
    print(json.dumps({"name": "python_pipeline_oversubscribed", "value": statistics.median(samples), "unit": "s",
                      "reps": len(samples), "samples": samples, "lines": expected["lines"], "processes": PARSERS + 2,
                      "ok": True}), flush=True)


def small_task(x):
    s = x
    for i in range(200):
        s = (s * 31 + i) % 1000003
    return s


def pool_map_small(n):
    with mp.get_context("fork").Pool() as p:
        p.map(small_task, range(100))  # workers up, as the procactor line's pool
        t0 = time.perf_counter()
        r = p.map(small_task, range(n))
        t = time.perf_counter() - t0
    assert r[12345] == small_task(12345)
    return n / t


def _map_with_kills(n, q):
    import random
    import signal
    import threading
    os.setpgrp()  # so that a hung run is killed with its workers
    with mp.get_context("fork").Pool() as p:
        def killer():
            while True:
                time.sleep(0.1)
                try:
                    os.kill(random.choice([w.pid for w in p._pool]), signal.SIGKILL)
                except (OSError, IndexError):
                    pass
        threading.Thread(target=killer, daemon=True).start()
        t0 = time.perf_counter()
        p.map(small_task, range(n))
        q.put(n / (time.perf_counter() - t0))


def pool_map_with_kills(n, timeout=20.0):
    """Python's Pool.map with a worker SIGKILLed every 100 ms: cut after `timeout` s if it hangs."""
    q = mp.Queue()
    pr = mp.Process(target=_map_with_kills, args=(n, q))
    pr.start()
    pr.join(timeout)
    hung = pr.is_alive()
    if hung:
        os.killpg(pr.pid, 9)
        pr.join()
    value = timeout if hung else q.get()
    print(json.dumps({"name": "python_pool_map_with_kills", "value": value, "unit": "s" if hung else "tasks/s",
                      "reps": 1, "samples": [value], "hung": hung, "ok": not hung,
                      "note": f"cut by a {timeout:g} s timeout: Pool.map never returned" if hung else ""}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("reps", type=int, nargs="?", default=5)
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--lines", help="pipeline input (default: 200,000 lines written to a temporary file)")
    ap.add_argument("--only", help="run only the pipeline ('pipeline')")
    args = ap.parse_args()
    reps, sweep = args.reps, args.sweep
    mp.set_start_method("fork")
    if args.only == "pipeline":
        pipeline(reps, args.lines)
        return
    emit("python_queue_throughput_64B", [queue_throughput(64, 200000) for _ in range(reps)], "msg/s")
    emit("python_queue_throughput_4KiB", [queue_throughput(4096, 50000) for _ in range(reps)], "msg/s")
    emit("python_pipe_rtt_64B", [pipe_rtt_us(10000) for _ in range(reps)], "us")
    fork = mp.get_context("fork")
    emit("python_process_fork_start_join", [start_join_us(fork) for _ in range(20 * reps)], "us")
    spawn = mp.get_context("spawn")
    emit("python_process_spawn_start_join", [start_join_us(spawn) for _ in range(2 * reps)], "us")
    pipeline(reps, args.lines)
    emit("python_pool_map_small_tasks", [pool_map_small(100000) for _ in range(reps)], "tasks/s")
    pool_map_with_kills(100000)
    if sweep:
        for size in (64, 256, 1024, 4096, 16384):
            n = max(20000, 4000000 // (size + 200))
            emit(f"python_queue_throughput_sweep_{size}", [queue_throughput(size, n) for _ in range(3)], "msg/s")


if __name__ == "__main__":
    main()
