#!/usr/bin/env python3
"""The dashboard of `procactor serve`, tested in a real browser (headless Chromium driven by
Selenium): starts the demo, starts the server, opens the page and checks that the demo's actors
appear, that a counter increases, and that a restart of w2 shows in the event log. Optionally
saves screenshots (for docs/operations.md).

    tools/dashboard_test.py --demo build/samples/supervised_tree --cli build/tools/cli/procactor \
        [--screenshots docs/img]

Exit status 0 when every check passed; 1 with the failed check on stderr otherwise.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TREE = "supervised_tree"
ACTORS = ["w1", "w2", "w3", "collector", "producer"]


def fail(what):
    print(f"dashboard_test: FAILED: {what}", file=sys.stderr)
    sys.exit(1)


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    fail(f"{what} (not within {timeout} s)")


def tree_listed(cli):
    out = subprocess.run([cli, "ls", "--json"], stdout=subprocess.PIPE, text=True, check=False).stdout
    try:
        return any(t["name"] == TREE and t["alive"] for t in json.loads(out or "[]"))
    except json.JSONDecodeError:
        return False


# The tree table's cells, read in one script call: the page redraws the table every second, so
# elements found one call earlier may be gone (StaleElementReferenceException) by the next.
TABLE_CELLS = """return Array.from(document.querySelectorAll('#tree tbody tr')).map(
    r => Array.from(r.querySelectorAll('td')).map(c => c.innerText.trim()));"""


def handled_of(driver, actor):
    """The `handled` cell of @actor's row in the tree table (None while it is not shown)."""
    for cells in driver.execute_script(TABLE_CELLS) or []:
        if len(cells) > 7 and cells[0].endswith(actor) and cells[7].isdigit():
            return int(cells[7])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--demo", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--screenshots", help="directory to save dashboard screenshots into")
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_bin = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    if not chromium or not os.path.exists(driver_bin):
        fail("chromium and chromium-driver are needed (apt-get install chromium chromium-driver)")

    procs = []
    driver = None
    try:
        demo = subprocess.Popen([args.demo, "--duration", "45", "--crash-every", "1500"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        procs.append(demo)
        wait_for(f"the demo's tree {TREE} listed by `procactor ls --json`", lambda: tree_listed(args.cli), args.timeout)

        serve = subprocess.Popen([args.cli, "serve", "--port", "0"], stdout=subprocess.PIPE, text=True)
        procs.append(serve)
        line = serve.stdout.readline()
        m = re.search(r"http://([^/]+)/", line)
        if not m:
            fail(f"procactor serve did not say where it listens: {line!r}")
        url = f"http://{m.group(1)}/"

        opts = Options()
        opts.binary_location = chromium
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
            opts.add_argument(a)
        driver = webdriver.Chrome(service=Service(driver_bin), options=opts)
        driver.set_page_load_timeout(args.timeout)
        driver.get(url)
        wait = WebDriverWait(driver, args.timeout, poll_frequency=0.2,
                             ignored_exceptions=(StaleElementReferenceException,))

        try:
            wait.until(lambda d: all(re.search(rf"\b{a}\b", d.find_element(By.ID, "tree").text) for a in ACTORS))
        except TimeoutException:
            fail("the demo's actors (" + ", ".join(ACTORS) + ") did not all appear in the tree view; it shows:\n" +
                 driver.find_element(By.ID, "tree").text[:2000])
        print("ok: the actors appear:", ", ".join(ACTORS))

        first = wait_for("w1's handled counter shown", lambda: handled_of(driver, "w1"), args.timeout)
        try:
            wait.until(lambda d: (handled_of(d, "w1") or 0) > first)
        except TimeoutException:
            fail(f"w1's handled counter did not increase from {first}")
        print(f"ok: a counter increases (w1 handled {first} -> {handled_of(driver, 'w1')})")

        try:
            wait.until(lambda d: re.search(r"(restarted|exited)\s+\S*/w2\b", d.find_element(By.ID, "events").text))
        except TimeoutException:
            fail("no restart of w2 in the event log; it shows:\n" + driver.find_element(By.ID, "events").text[:2000])
        print("ok: the restart of w2 shows in the event log")

        if args.screenshots:
            os.makedirs(args.screenshots, exist_ok=True)
            driver.find_element(By.CSS_SELECTOR, '#tree tbody tr[data-sel$="/w1"]').click()  # an actor's own charts
            time.sleep(3)  # a few samples in the charts for the picture (not a synchronisation)
            path = os.path.join(args.screenshots, "dashboard.png")
            driver.save_screenshot(path)
            print("screenshot:", path)
        print("dashboard_test: passed")
    finally:
        if driver:
            driver.quit()
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


if __name__ == "__main__":
    main()
