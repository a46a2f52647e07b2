#!/usr/bin/env python3
"""The Python multiprocessing side of the benchmarks: the same workloads as procactor_bench.

Prints one JSON object per line: {"name", "value", "unit", "reps", "samples"}.
"""
import json
import multiprocessing as mp
import statistics
import sys
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


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    sweep = "--sweep" in sys.argv
    mp.set_start_method("fork")
    emit("python_queue_throughput_64B", [queue_throughput(64, 200000) for _ in range(reps)], "msg/s")
    emit("python_queue_throughput_4KiB", [queue_throughput(4096, 50000) for _ in range(reps)], "msg/s")
    emit("python_pipe_rtt_64B", [pipe_rtt_us(10000) for _ in range(reps)], "us")
    fork = mp.get_context("fork")
    emit("python_process_fork_start_join", [start_join_us(fork) for _ in range(20 * reps)], "us")
    spawn = mp.get_context("spawn")
    emit("python_process_spawn_start_join", [start_join_us(spawn) for _ in range(2 * reps)], "us")
    if sweep:
        for size in (64, 256, 1024, 4096, 16384):
            n = max(20000, 4000000 // (size + 200))
            emit(f"python_queue_throughput_sweep_{size}", [queue_throughput(size, n) for _ in range(3)], "msg/s")


if __name__ == "__main__":
    main()
