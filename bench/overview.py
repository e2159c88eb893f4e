#!/usr/bin/env python3
"""The overview page for 100 assets and 5,000 people: how long the daemon takes to make it
(its `Server-Timing` header), side by side with serving /metrics from the same daemon in the
same run.

Builds one repository of COMMITS commits by 5,000 authors over 100 asset directories
(bench/make_repo.py, dated so the history ends now: everyone is in the 90-day board), a
catalog of those 100 assets (with owners, lifecycles and targets, so rows and problems are
full), mines it, waits for the recognition board, then:

- ROUNDS times: a changed config reloaded (a new render: the page's rule evaluation is no
  longer cached) and the first `/` after it;
- 50 requests of `/` on one render (the evaluation cached with the render);
- 50 requests of `/metrics` (plain text), each timed by the client.

    bench/overview.py BINARY [--commits 40000] [--rounds 10] [--work DIR]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import start_daemon, wait_answering  # noqa: E402

ASSETS = 100
PEOPLE = 5000


def get(addr, path):
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://{addr}{path}", timeout=60) as r:
        body = r.read()
        timing = r.headers.get("Server-Timing", "")
    wall = time.perf_counter() - started
    server = float(timing.split("dur=")[1]) / 1000 if "dur=" in timing else None
    return body.decode(), server, wall


def generate(work, commits):
    repo = os.path.join(work, f"overview{commits}")
    if os.path.exists(os.path.join(repo, "HEAD")):
        return repo
    start = int(time.time()) - commits * 300 - 3600
    subprocess.run(["git", "init", "-q", "--bare", repo], check=True)
    make = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "make_repo.py"),
                             str(commits), "1", str(PEOPLE), str(ASSETS)],
                            stdout=subprocess.PIPE, env={**os.environ, "MAKE_REPO_START": str(start)})
    subprocess.run(["git", "-C", repo, "fast-import", "--quiet"], stdin=make.stdout, check=True)
    make.wait()
    return repo


def write_config(path, repo, schedule="1h"):
    lines = ["sources:", "  - name: org", "    type: git", f"    path: {repo}", "    branch: main",
             f"    schedule: {schedule}", "catalog:"]
    kinds = ["library", "model", "feature_view", "pipeline"]
    for k in range(ASSETS):
        lines += [f"  - id: a{k}", f"    kind: {kinds[k % 4]}",
                  f"    lifecycle: {'production' if k % 3 else 'experimental'}",
                  "    repository: org", f"    paths: [\"assets/a{k}/**\"]"]
        if k % 5:
            lines.append(f"    owner: team-{k % 7}")
        if k % 2:
            lines += ["    targets:", "      build_success: 0.95", "      coverage: 0.8"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--commits", type=int, default=40000)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--work", default="/work/bench-cache")
    a = p.parse_args()
    d = os.path.join(a.work, "overview")
    os.makedirs(d, exist_ok=True)
    repo = generate(a.work, a.commits)
    config = os.path.join(d, "c.yaml")
    write_config(config, repo)
    for f in os.listdir(d):
        if f.startswith("db.sqlite"):
            os.remove(os.path.join(d, f))
    log = open(os.path.join(d, "daemon.log"), "w")
    daemon, addr = start_daemon(a.binary, config, os.path.join(d, "db.sqlite"), log)
    try:
        wait_answering(daemon, addr, poll=1)
        # The first page asks for the board; wait until it is built.
        while "board-pending" in get(addr, "/")[0]:
            time.sleep(0.5)
        page = get(addr, "/")[0]
        rows = page.count("<tr data-asset=")
        people = page.split("people in all")[0].rsplit(". ", 1)[-1].strip()
        print(f"rows {rows}; board: {people} people in 90 days; page {len(page)} bytes")
        first = []
        for i in range(a.rounds):
            # A changed configuration: every group is derived again, a new render published.
            write_config(config, repo, "59m" if i % 2 == 0 else "1h")
            before = get(addr, "/metrics")[0]
            stamp = [l for l in before.splitlines() if l.startswith("mlsteward_renders_total ")]
            urllib.request.urlopen(urllib.request.Request(f"http://{addr}/-/reload", method="POST"),
                                   timeout=60).read()
            while True:
                now = get(addr, "/metrics")[0]
                if [l for l in now.splitlines() if l.startswith("mlsteward_renders_total ")] != stamp:
                    break
                time.sleep(0.05)
            first.append(get(addr, "/")[1])
        cached = [get(addr, "/") for _ in range(50)]
        metrics = [get(addr, "/metrics")[2] for _ in range(50)]
        ms = lambda v: f"{v * 1000:.1f} ms"  # noqa: E731
        print(f"/ after a new render (rules evaluated), server: median {ms(statistics.median(first))}, "
              f"max {ms(max(first))} ({len(first)} renders)")
        print(f"/ on one render, server: median {ms(statistics.median(c[1] for c in cached))}, "
              f"max {ms(max(c[1] for c in cached))}; client wall median "
              f"{ms(statistics.median(c[2] for c in cached))}")
        m = statistics.median(metrics)
        print(f"/metrics ({len(before)} bytes), client wall: median {ms(m)}, max {ms(max(metrics))}")
        print(f"ratio, / after a new render (server) to /metrics (client): "
              f"{statistics.median(first) / m:.2f}")
    finally:
        daemon.terminate()
        daemon.wait()


if __name__ == "__main__":
    main()
