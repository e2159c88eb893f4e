#!/usr/bin/env python3
"""A running daemon that follows a real history forward equals a fresh mine of the same tip.

Clones REPO (a real public history, e.g. a mirror the search tool's fetch brings), moves its
branch BACK first-parent commits back, starts `mlsteward run` on it (a catalog of its
top-level directories, owners from its CODEOWNERS), then moves the branch forward STEP
commits at a time. After each step, once the daemon has collected and rendered the new tip
(brought forward: tip snapshot, people, credit totals), its /metrics is compared with
`collect-once` of the same tip into a fresh store, every family but the self metrics.

    bench/incremental_real.py BINARY REPO [--back 300] [--step 100]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import start_daemon, wait_answering  # noqa: E402

SELF = re.compile(r"^mlsteward_(collector_|config_last_reload_success_timestamp|upstream_|derive|"
                  r"derivations|render|snapshot_|build_info|store_healthy|webhook_)")


def facts(text):
    return sorted(l for l in text.splitlines() if l and not l.startswith("#") and not SELF.match(l))


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("repo")
    p.add_argument("--back", type=int, default=300)
    p.add_argument("--step", type=int, default=100)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="mlsteward-incremental-")
    repo = os.path.join(work, "repo")
    subprocess.run(["git", "clone", "-q", "--bare", a.repo, repo], check=True)
    branch = git(repo, "symbolic-ref", "--short", "HEAD")
    chain = git(repo, "rev-list", "--first-parent", f"-{a.back + 1}", branch).split()
    chain.reverse()  # oldest first: chain[0] is BACK commits back, chain[-1] the real tip
    name = "real"
    dirs = git(repo, "ls-tree", "-d", "--name-only", chain[-1]).split("\n")[:30]
    config = os.path.join(work, "c.yaml")
    with open(config, "w") as f:
        f.write(f"recognition:\n  top_n: 20\nsources:\n  - name: {name}\n    type: git\n"
                f"    path: {repo}\n    schedule: 2s\n    timeout: 30m\ncatalog:\n")
        for d in dirs:
            ident = re.sub(r"[^A-Za-z0-9_-]", "-", d)
            f.write(f"  - id: {name}-{ident}\n    kind: library\n    repository: {name}\n"
                    f"    paths: [\"{d}/**\"]\n")
    git(repo, "update-ref", f"refs/heads/{branch}", chain[0])
    log = open(os.path.join(work, "daemon.log"), "w")
    daemon, addr = start_daemon(a.binary, config, os.path.join(work, "run.db"), log,
                                ["--log.level", "debug"])
    failures = 0
    try:
        wait_answering(daemon, addr, poll=1)
        for at in range(a.step, a.back + 1, a.step):
            tip = chain[at]
            git(repo, "update-ref", f"refs/heads/{branch}", tip)
            # Wait for the collection that mined this step (the first mine was the first
            # such line) and a render after it.
            deadline = time.time() + 120
            while time.time() < deadline:
                with open(os.path.join(work, "daemon.log")) as f:
                    text = f.read()
                mined = [m.start() for m in re.finditer(r"DEBUG mined source=real commits=[1-9]", text)]
                if len(mined) > at // a.step and text.find(" rendered ", mined[-1]) > 0:
                    break
                time.sleep(0.5)
            served = urllib.request.urlopen(f"http://{addr}/metrics").read().decode()
            fresh_db = os.path.join(work, f"fresh{at}.db")
            out = subprocess.run([a.binary, "collect-once", "--config.file", config,
                                  "--storage.path", fresh_db], capture_output=True, text=True)
            left, right = facts(served), facts(out.stdout)
            how = re.findall(r'tip snapshot source=real how="([^"]+)"', text)
            if left == right:
                print(f"+{at} commits ({tip[:10]}): identical, {len(right)} series; "
                      f"tip snapshot {how[-1] if how else '?'}")
            else:
                failures += 1
                only_served = sorted(set(left) - set(right))[:10]
                only_fresh = sorted(set(right) - set(left))[:10]
                print(f"+{at} commits ({tip[:10]}): DIFFERENT\n  served only: {only_served}\n"
                      f"  fresh only: {only_fresh}")
    finally:
        daemon.terminate()
        daemon.wait()
        log.close()
    if failures == 0:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
