#!/usr/bin/env python3
"""Soak test (not part of the default suite): a release daemon with five git sources runs for a
while under continuous scrapes, with an upstream fault injected every minute (one mirrored
remote disappears for 20 s) and a `kill -9` plus restart every few minutes. It reports peak RSS
per daemon life (flat or not), scrape failures and latency, log errors beyond the injected
ones, and whether every restart exposed exactly the counters the killed process had.

usage: bench/soak.py [MINUTES] [KILL_EVERY_SECONDS]     (defaults: 30, 300)
Build first: cargo build --release. Everything runs on 127.0.0.1 in a temporary directory.
"""
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "mlsteward")
FACT_FAMILIES = ("mlsteward_contributions_total", "mlsteward_credited_commits_total",
                 "mlsteward_git_commits", "mlsteward_asset_", "mlsteward_active_contributors",
                 "mlsteward_new_contributors")


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw)


def synthetic(path, commits, first=1):
    os.makedirs(path, exist_ok=True)
    run("git", "init", "-q", "-b", "main", path)
    stream = run(sys.executable, os.path.join(ROOT, "bench", "make_repo.py"), str(commits),
                 str(first)).stdout
    subprocess.run(["git", "-C", path, "fast-import", "--quiet"], input=stream, check=True)
    run("git", "-C", path, "reset", "-q", "--hard", "main")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def facts(text):
    return sorted(l for l in text.splitlines()
                  if not l.startswith("#") and l.startswith(FACT_FAMILIES))


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 30
    kill_every = float(sys.argv[2]) if len(sys.argv) > 2 else 300
    work = tempfile.mkdtemp(prefix="mlsteward-soak.")
    for name, n in (("small", 2000), ("medium", 5000), ("large", 20000)):
        synthetic(os.path.join(work, name), n)
    for name in ("remote_a", "remote_b"):
        run("git", "clone", "-q", "--bare", os.path.join(work, "small"),
            os.path.join(work, name + ".git"))
    config = os.path.join(work, "c.yaml")
    with open(config, "w") as f:
        f.write("sources:\n")
        for name in ("small", "medium", "large"):
            f.write(f"  - name: {name}\n    type: git\n    path: {name}\n    schedule: 15s\n")
        for name in ("remote_a", "remote_b"):
            f.write(f"  - name: {name}\n    type: git\n    url: file://{work}/{name}.git\n"
                    "    schedule: 15s\n    timeout: 30s\n")
    storage = os.path.join(work, "data", "db.sqlite")
    port = free_port()
    addr = f"127.0.0.1:{port}"
    logs = open(os.path.join(work, "daemon.log"), "w")

    def start():
        return subprocess.Popen([BIN, "run", "--config.file", config, "--storage.path", storage,
                                 "--web.listen-address", addr], stdout=subprocess.DEVNULL,
                                stderr=logs, env={**os.environ, "NO_COLOR": "1"})

    def get(path, timeout=5):
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()

    def wait_ready(limit=600):
        deadline = time.time() + limit
        while time.time() < deadline:
            try:
                if get("/-/ready")[0] == 200:
                    return
            except Exception:
                pass
            time.sleep(0.2)
        raise SystemExit("the daemon did not become ready")

    stop = threading.Event()
    restarting = threading.Event()
    scrapes = {"ok": 0, "failed": 0, "latency": []}

    def scraper():
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, _ = get("/metrics")
                if status == 200:
                    scrapes["ok"] += 1
                    scrapes["latency"].append(time.monotonic() - started)
                elif not restarting.is_set():
                    scrapes["failed"] += 1
            except Exception:
                if not restarting.is_set():
                    scrapes["failed"] += 1
            time.sleep(0.5)

    injected = {"count": 0}

    def injector():
        remote = os.path.join(work, "remote_a.git")
        while not stop.wait(40):
            os.rename(remote, remote + ".away")
            injected["count"] += 1
            stop.wait(20)
            os.rename(remote + ".away", remote)

    daemon = start()
    wait_ready()
    lives = [{"rss": [], "started": time.time()}]
    threading.Thread(target=scraper, daemon=True).start()
    threading.Thread(target=injector, daemon=True).start()
    end = time.time() + minutes * 60
    next_kill = time.time() + kill_every
    restarts = []
    while time.time() < end:
        time.sleep(10)
        rss = rss_kib(daemon.pid)
        if rss:
            lives[-1]["rss"].append(rss)
        if time.time() >= next_kill and time.time() + 60 < end:
            before = facts(get("/metrics")[1])
            restarting.set()
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            daemon = start()
            wait_ready()
            restarting.clear()
            # The first render after start derives from the store alone.
            after = facts(get("/metrics")[1])
            restarts.append(before == after)
            lives.append({"rss": [], "started": time.time()})
            next_kill = time.time() + kill_every
    stop.set()
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=30)
    logs.close()

    unexpected = []
    with open(os.path.join(work, "daemon.log")) as f:
        for line in f:
            if " WARN " not in line and " ERROR " not in line:
                continue
            if "source=remote_a" in line and "request_failed" in line:
                continue  # injected
            unexpected.append(line.strip())
    lat = sorted(scrapes["latency"])
    p99 = lat[int(len(lat) * 0.99)] if lat else float("nan")
    print(f"Soak: {minutes:g} min, 5 git sources every 15 s, a scrape every 0.5 s, "
          f"{injected['count']} injected remote outages, {len(restarts)} kill -9 restarts.\n")
    print("| daemon life | RSS at 1st sample MiB | RSS max MiB | RSS at last sample MiB |")
    print("|---|---|---|---|")
    for i, life in enumerate(lives):
        r = life["rss"]
        if r:
            print(f"| {i + 1} | {r[0] / 1024:.0f} | {max(r) / 1024:.0f} | {r[-1] / 1024:.0f} |")
    print(f"\nScrapes: {scrapes['ok']} ok, {scrapes['failed']} failed outside restarts; "
          f"median {statistics.median(lat) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms.")
    print(f"Restarts exposing exactly the killed process's counters: "
          f"{sum(restarts)} of {len(restarts)}.")
    print(f"Log warnings and errors beyond the injected outages: {len(unexpected)}.")
    for line in unexpected[:10]:
        print("   ", line[:200])
    shutil.rmtree(work, ignore_errors=True)
    ok = scrapes["failed"] == 0 and all(restarts) and not unexpected
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
