#!/usr/bin/env python3
"""External chaos harness for procactor trees (issue #8's acceptance check, run from outside).

Starts the main demo (samples/supervised_tree) as the tree's owner, then for --duration seconds
sends a random signal (SIGKILL in `kill` mode, SIGSTOP in `stop` mode, `mixed` picks either) at
--rate per second to a random process of the tree: any descendant of the owner, the root
supervisor included, never the owner itself. Then it checks what the issue promises:

  1. alive and making progress: after the chaos, within --recover seconds, the demo still prints
     its table and the workers' mailboxes keep taking jobs out (the sum of their `dequeued`
     counters, which live in shared memory and survive restarts, grows);
  2. SIGINT to the owner stops everything within --stop-timeout seconds, and the owner exits;
  3. no process of the tree is left: none alive, none stopped (every pid the harness ever saw,
     judged by pid and start time so that a reused pid is not blamed);
  4. /dev/shm holds the same procactor objects as before the run;
  5. with --cli: the tree's live registry, read throughout the chaos with `procactor tree --json`,
     always parses and every entry is whole (a known state, a path in the tree, a pid for a
     running node) or reported as torn (its writer killed mid-write), never a mix.

Prints one JSON line with the figures and exits 0 when every check passed, 1 otherwise (the
reasons are in the JSON line and on stderr).

usage: tools/chaos.py [--mode kill|stop|mixed] [--duration 60] [--rate 5] [--binary PATH] [--seed N]
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

WORKERS = ("workers/w1", "workers/w2", "workers/w3")
ROW = re.compile(r"^\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$")
SECOND = re.compile(r"^\[\s*(\d+)s\] jobs done (-?\d+)")


def shm_objects():
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith("procactor."))


def stat_of(pid):
    """(ppid, state, starttime) of pid, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(rest[1]), rest[0], int(rest[19])


def descendants(root_pid):
    """Every live descendant of root_pid: {pid: (state, starttime)}."""
    children = {}
    info = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        s = stat_of(int(name))
        if s is None:
            continue
        ppid, state, start = s
        children.setdefault(ppid, []).append(int(name))
        info[int(name)] = (state, start)
    out = {}
    todo = [root_pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out and c in info:
                out[c] = info[c]
                todo.append(c)
    return out


class demo_output:
    """Reads the demo's stdout in a thread: the last table, when it was printed."""

    def __init__(self, stream):
        self.lock = threading.Lock()
        self.rows = {}
        self.tables = []  # (monotonic time, sum of the workers' dequeued)
        self.tail = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.lock:
                self.tail = (self.tail + [line])[-40:]
                m = ROW.match(line)
                if m:
                    self.rows[m.group(1)] = [int(x) for x in m.groups()[1:]]
                    if m.group(1) == "producer" and all(w in self.rows for w in WORKERS):
                        self.tables.append((time.monotonic(), sum(self.rows[w][2] for w in WORKERS)))

    def dequeued_since(self, t):
        """(first, last) dequeued sums of the tables printed after t, or None."""
        with self.lock:
            seen = [d for (at, d) in self.tables if at >= t]
        return (seen[0], seen[-1]) if seen else None

    def restarts(self):
        with self.lock:
            return {a: r[4] for a, r in self.rows.items()}


STATES = {"starting", "running", "restarting", "stopping", "stopped", "frozen"}


class registry_reader:
    """Reads the tree's registry with `procactor tree --json` in a loop and checks every reading."""

    def __init__(self, cli, name):
        self.cli, self.name = cli, name
        self.readings = self.torn = 0
        self.bad = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            r = subprocess.run([self.cli, "tree", "--json", self.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
            if r.returncode != 0:
                self.bad.append(f"exit {r.returncode}: {r.stderr.strip()}")
                continue
            try:
                t = json.loads(r.stdout)
                for n in t["nodes"]:
                    if n["state"] == "torn":
                        self.torn += 1
                        continue
                    whole = (n["state"] in STATES and n["path"].startswith("/app") and
                             (n["pid"] > 0 or n["state"] != "running") and n["kind"] in ("actor", "supervisor"))
                    if not whole:
                        self.bad.append(f"entry not whole: {n}")
                self.readings += 1
            except (ValueError, KeyError, TypeError) as e:
                self.bad.append(f"unreadable output ({e}): {r.stdout[:200]!r}")

    def finish(self):
        self.stop.set()
        self.thread.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("kill", "stop", "mixed"), default="kill")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of chaos")
    ap.add_argument("--rate", type=float, default=5.0, help="signals per second")
    ap.add_argument("--recover", type=float, default=30.0, help="seconds allowed to show progress after the chaos")
    ap.add_argument("--stop-timeout", type=float, default=30.0, help="seconds allowed for SIGINT to end everything")
    ap.add_argument("--binary", default="build/samples/supervised_tree")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--cli", help="the procactor command: read the tree's registry throughout (check 5)")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    problems = []

    shm_before = shm_objects()
    owner = subprocess.Popen([a.binary, "--duration", str(int(a.duration + a.recover + 600))],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = demo_output(owner.stdout)
    seen = {}  # pid -> starttime: every process of the tree the harness saw
    sent = {"SIGKILL": 0, "SIGSTOP": 0}
    hit_root = 0

    # Wait for the tree to be up: its first table.
    deadline = time.monotonic() + 30
    while not out.dequeued_since(0) and time.monotonic() < deadline and owner.poll() is None:
        time.sleep(0.1)
    if not out.dequeued_since(0):
        problems.append("the demo never printed its first table")

    # The chaos.
    reg = registry_reader(a.cli, "supervised_tree") if a.cli and not problems else None
    end = time.monotonic() + a.duration
    while not problems and time.monotonic() < end:
        if owner.poll() is not None:
            problems.append(f"the owner exited during the chaos (status {owner.returncode})")
            break
        tree = descendants(owner.pid)
        for pid, (_, start) in tree.items():
            seen.setdefault(pid, start)
        if tree:
            victim = rng.choice(sorted(tree))
            sig = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}.get(a.mode) or rng.choice((signal.SIGKILL, signal.SIGSTOP))
            s = stat_of(victim)
            if s and s[2] == tree[victim][1]:  # still the same process
                try:
                    os.kill(victim, sig)
                    sent[sig.name] += 1
                    hit_root += s[0] == owner.pid
                except ProcessLookupError:
                    pass
        time.sleep(rng.expovariate(a.rate))

    # Alive and making progress.
    chaos_end = time.monotonic()
    if reg:
        reg.finish()
        if reg.bad:
            problems.append(f"{len(reg.bad)} bad registry reading(s) of {reg.readings + len(reg.bad)}: {reg.bad[:3]}")
        elif reg.readings == 0:
            problems.append("the registry was never read")
    progress = None
    if not problems:
        deadline = chaos_end + a.recover
        while time.monotonic() < deadline and owner.poll() is None:
            for pid, (_, start) in descendants(owner.pid).items():
                seen.setdefault(pid, start)
            progress = out.dequeued_since(chaos_end)
            if progress and progress[1] - progress[0] >= 30:  # 30 more jobs taken out, after the chaos
                break
            time.sleep(0.2)
        if owner.poll() is not None:
            problems.append(f"the owner exited after the chaos (status {owner.returncode})")
        elif not progress or progress[1] - progress[0] < 30:
            problems.append(f"no progress within {a.recover} s after the chaos (dequeued sums {progress})")

    # SIGINT stops everything.
    for pid, (_, start) in descendants(owner.pid).items():
        seen.setdefault(pid, start)
    stop_started = time.monotonic()
    if owner.poll() is None:
        owner.send_signal(signal.SIGINT)
    try:
        owner.wait(timeout=a.stop_timeout)
    except subprocess.TimeoutExpired:
        problems.append(f"the owner did not exit within {a.stop_timeout} s of SIGINT")
        owner.kill()
        owner.wait()
    stop_s = time.monotonic() - stop_started

    # Nothing left: alive or stopped (a process left over gets a few seconds to finish dying).
    def leftovers():
        left = []
        for pid, start in seen.items():
            s = stat_of(pid)
            if s and s[2] == start and s[1] != "Z":
                left.append((pid, s[1]))
        return left
    deadline = time.monotonic() + 5
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = leftovers()
    if left:
        problems.append(f"{len(left)} process(es) of the tree left behind: {left[:10]}")
        for pid, _ in left:  # ours (the harness started the tree): do not leave them to the machine
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    shm_after = shm_objects()
    # Objects are named procactor.<pid>-<start time>.<...> after the process that made the tree's
    # names: ours are those of the demo or of a process of its tree. Another program running on
    # the machine meanwhile (a benchmark, another test) may leave its own for a moment.
    ours = {owner.pid} | set(seen)

    def made_by_us(name):
        head = name.split(".")[1] if name.count(".") >= 1 else ""
        pid = head.split("-")[0]
        return not pid.isdigit() or int(pid) in ours

    extra = sorted(n for n in set(shm_after) - set(shm_before) if made_by_us(n))
    if extra:
        problems.append(f"{len(extra)} object(s) left in /dev/shm: {extra[:10]}")

    report = {
        "mode": a.mode, "seed": seed, "duration_s": a.duration, "rate_per_s": a.rate,
        "signals": sent, "hits_on_root": hit_root, "processes_seen": len(seen),
        "restarts": out.restarts(), "dequeued_after_chaos": progress,
        "stop_s": round(stop_s, 2), "owner_status": owner.returncode,
        "left_processes": len(left), "left_shm": len(extra),
        "registry_readings": reg.readings if reg else None, "registry_torn": reg.torn if reg else None,
        "ok": not problems, "problems": problems,
    }
    print(json.dumps(report))
    if problems:
        print("chaos: FAILED\n  " + "\n  ".join(problems) + "\nlast demo output:\n" + "\n".join(out.tail), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
