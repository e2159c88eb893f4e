#!/usr/bin/env python3
"""Slow clients, before and after: memory under slow webhook bodies, descriptors under
slowloris.

1. Slow bodies: 1,000 connections POST to /webhooks/github with a well-formed (but wrong)
   signature header and a declared 4 MB body, then send one body byte every 20 s. The
   daemon's resident memory is sampled for 60 s (goal: under 100 MB). The same with no
   signature header, and against a daemon that has no webhook source (with basic auth on).
2. Descriptors: the daemon runs under `ulimit -n 256` with a git source collected every 2 s;
   three waves of 400 connections send a request's headers one byte every 5 s. Sampled for
   40 s: the daemon's open descriptors (peak, and seconds at the limit), whether every git
   collection kept succeeding, how often a fresh /metrics scrape answered, and the accept
   errors logged.

    bench/slow_clients.py [--before BIN] [--after BIN] [--work DIR]
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from benchlib import rss_mib, run, start_daemon, wait_answering

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "5b3f9c0e7a1d4e2f8c6b0a9d"


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def start(binary, config, d, extra=(), limit=None):
    log = open(os.path.join(d, "daemon.log"), "a")
    p, addr = start_daemon(binary, config, os.path.join(d, "db.sqlite"), log, extra, limit)
    wait_answering(p, addr, "/-/healthy", timeout=120, poll=0.3)
    return p, addr


def slow_bodies(binary, d, repo, headers, webhook_source=True, auth=False):
    config = os.path.join(d, "c.yaml")
    with open(config, "w") as f:
        f.write(f"sources:\n  - name: repo\n    type: git\n    path: {repo}\n    schedule: 1h\n")
        if webhook_source:
            f.write(f"  - name: gh\n    type: github\n    api_url: http://127.0.0.1:9\n"
                    f"    repositories: [acme/x]\n    webhook_secret: {SECRET}\n    schedule: 1h\n")
    extra = []
    if auth:
        web = os.path.join(d, "web.yml")
        with open(web, "w") as f:
            # bcrypt of "x" (cost 4)
            f.write("basic_auth_users:\n  u: $2y$04$Q8Vcqkrl3DNuOJE/3Kws4ufAijLmckqZyAymMFLBBXqNdPkhFKhqK\n")
        extra = ["--web.config.file", web]
    p, addr = start(binary, config, d, extra)
    host, port = addr.split(":")
    time.sleep(2)
    base = rss_mib(p.pid)
    socks = []
    for i in range(1000):
        try:
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(f"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n{headers}\r\n".encode())
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    peak = base
    end = time.time() + 60
    nxt = time.time()
    while time.time() < end:
        peak = max(peak, rss_mib(p.pid))
        if time.time() >= nxt:
            for s in socks:
                try:
                    s.send(b"x")
                except OSError:
                    pass
            nxt = time.time() + 20
        time.sleep(0.25)
    answered = 0
    for s in socks:
        try:
            if s.recv(64):
                answered += 1
        except OSError:
            pass
        s.close()
    p.terminate()
    p.wait()
    return {"rss_before_mib": round(base, 1), "rss_peak_mib": round(peak, 1),
            "connections": len(socks), "answered": answered}


def slowloris(binary, d, repo):
    config = os.path.join(d, "c.yaml")
    with open(config, "w") as f:
        f.write(f"sources:\n  - name: repo\n    type: git\n    path: {repo}\n    schedule: 2s\n")
    p, addr = start(binary, config, d, limit=256)
    host, port = addr.split(":")
    time.sleep(5)
    stop = threading.Event()
    held = []

    def wave():
        for _ in range(400):
            try:
                s = socket.create_connection((host, int(port)), timeout=2)
                s.send(b"G")
                held.append(s)
            except OSError:
                pass

    def drip():
        while not stop.is_set():
            for s in list(held):
                try:
                    s.send(b"E")
                except OSError:
                    pass
            stop.wait(5)

    t = threading.Thread(target=drip)
    t.start()
    samples = []
    scrapes = [0, 0]
    start_t = time.time()
    for w in range(3):
        wave()
        wave_end = time.time() + 13
        while time.time() < wave_end:
            samples.append(fds(p.pid))
            try:
                with urllib.request.urlopen(f"http://{addr}/metrics", timeout=2) as r:
                    r.read()
                    scrapes[0] += 1
            except Exception:
                scrapes[1] += 1
            time.sleep(0.5)
    stop.set()
    t.join()
    for s in held:
        s.close()
    time.sleep(3)
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        text = r.read().decode()
    failed = sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                 if l.startswith('mlsteward_collector_errors_total{collector="git"'))
    p.terminate()
    p.wait()
    logs = open(os.path.join(d, "daemon.log")).read()
    return {"fd_peak": max(samples), "samples_at_limit": sum(1 for s in samples if s >= 250),
            "samples": len(samples), "scrapes_ok": scrapes[0], "scrapes_failed": scrapes[1],
            "git_collections_failed": failed,
            "accept_errors_logged": logs.count("accepting a connection failed"),
            "seconds": round(time.time() - start_t)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before")
    ap.add_argument("--after", default=os.path.join(ROOT, "target", "release", "mlsteward"))
    ap.add_argument("--work", default="/work/bench-cache")
    a = ap.parse_args()
    repo = os.path.join(a.work, "slow-repo")
    if not os.path.exists(os.path.join(repo, ".done")):
        shutil.rmtree(repo, ignore_errors=True)
        os.makedirs(repo)
        run("git", "init", "-q", "-b", "main", repo)
        stream = run(sys.executable, os.path.join(ROOT, "bench", "make_repo.py"), "2000").stdout
        subprocess.run(["git", "-C", repo, "fast-import", "--quiet"], input=stream, check=True)
        run("git", "-C", repo, "reset", "-q", "--hard", "main")
        open(os.path.join(repo, ".done"), "w").close()
    results = {}
    bad_sig = "X-Hub-Signature-256: sha256=" + "0" * 64 + "\r\n"
    for label, binary in (("before", a.before), ("after", a.after)):
        if not binary:
            continue
        r = {}
        for case, kw in (("signed_shape", dict(headers=bad_sig)),
                         ("unsigned", dict(headers="")),
                         ("no_webhook_source_basic_auth", dict(headers="", webhook_source=False, auth=True))):
            d = os.path.join(a.work, f"slow-{label}-{case}")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            r[case] = slow_bodies(binary, d, repo, **kw)
            shutil.rmtree(d, ignore_errors=True)
        d = os.path.join(a.work, f"slow-{label}-slowloris")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        r["slowloris"] = slowloris(binary, d, repo)
        shutil.rmtree(d, ignore_errors=True)
        results[label] = r
        print(label, json.dumps(r), file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
