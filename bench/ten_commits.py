#!/usr/bin/env python3
"""Ten new commits, again and again, with each collection's and render's phase timings.

Runs a daemon (debug logging) on the ten wide repositories of bench/steady_state.py with a
store kept in DIR (mined on the first use: about 3.5 minutes; reused after, so the daemon
starts on an already mined store), appends 10 commits to r0 N times (one collection interval
apart), and prints the `mined` and `rendered` debug lines that followed each append. r0's
branch is reset afterwards.

    bench/ten_commits.py BINARY [N] [--work DIR] [--fresh]

--fresh empties DIR's store first, so the same daemon does the first mine and then the
appends (the case bench/steady_state.py measures).
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import steady_state as ss  # noqa: E402
from benchlib import start_daemon, wait_answering  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("n", nargs="?", type=int, default=3)
    p.add_argument("--work", default="/work/bench-cache")
    p.add_argument("--fresh", action="store_true")
    a = p.parse_args()
    d = os.path.join(a.work, "ten-commits")
    os.makedirs(d, exist_ok=True)
    if a.fresh:
        for f in os.listdir(d):
            if f.startswith("db.sqlite"):
                os.remove(os.path.join(d, f))
    repos = os.path.join(a.work, "wide200000")
    ss.generate(a.work, 200000)
    server = ThreadingHTTPServer(("127.0.0.1", 0), ss.Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = os.path.join(d, "c.yaml")
    ss.write_config(config, repos, f"http://127.0.0.1:{server.server_address[1]}")
    log_path = os.path.join(d, "daemon.log")
    log = open(log_path, "w")
    started = time.time()
    daemon, addr = start_daemon(a.binary, config, os.path.join(d, "db.sqlite"), log,
                                ["--log.level", "debug"])
    r0 = os.path.join(repos, "r0")
    tip = ss.run("git", "-C", r0, "rev-parse", "main").stdout.decode().strip()
    try:
        wait_answering(daemon, addr, poll=1)
        print(f"answering after {time.time() - started:.0f} s", flush=True)
        time.sleep(20)
        for _ in range(a.n):
            with open(log_path) as f:
                f.seek(0, 2)
                mark = f.tell()
            count = int(ss.run("git", "-C", r0, "rev-list", "--count", "main").stdout)
            stream = ss.run(sys.executable, os.path.join(ss.ROOT, "bench", "make_repo.py"), "10",
                            str(count + 1), "5000", "100", "0", "3").stdout
            subprocess.run(["git", "-C", r0, "fast-import", "--quiet"], input=stream, check=True)
            time.sleep(32)
            with open(log_path) as f:
                f.seek(mark)
                for line in f:
                    if ("mined source=r0" in line
                            or (" rendered " in line and '("credits"' in line)):
                        print(line.rstrip())
            print("----", flush=True)
    finally:
        daemon.terminate()
        daemon.wait()
        log.close()
        ss.run("git", "-C", r0, "update-ref", "refs/heads/main", tip)


if __name__ == "__main__":
    main()
