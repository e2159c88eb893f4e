#!/usr/bin/env python3
"""A flood of unsigned webhooks, before and after: does it hold back anything else?

A daemon with a git source (a synthetic 20,000-commit repository, or --repo: the issue's
figures use a wide 200,000-commit one) and a GitHub source that
takes webhooks (a fake in GitHub's documented shapes) gets 3,000 unsigned webhooks in a burst
from 64 concurrent clients. For each binary, in one run:

- the latency of `POST /-/reload` (nothing changed) idle, and right after the burst (median
  of 10 each): the goal is at most 2x;
- renders during the burst (`mlsteward_renders_total`, where the binary has it): a refusal
  should render nothing;
- how far the served webhook counter lags behind the requests answered (sampled every
  100 ms): the self metrics are at most a second old; and how long a scrape of /metrics
  takes during the burst (the snapshot is served as published, never waiting on a render);
- the daemon's CPU during the burst.

    bench/flood.py [--before BIN] [--after BIN] [--work DIR] [--repo PATH]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchlib import cpu_seconds, run, start_daemon, wait_answering

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "5b3f9c0e7a1d4e2f8c6b0a9d"


class Github(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/repos/acme/flood":
            body = b'{"full_name": "acme/flood", "default_branch": "main"}'
        elif path == "/repos/acme/flood/actions/runs":
            body = b'{"total_count": 0, "workflow_runs": []}'
        else:
            body = b'{"message": "Not Found"}'
        self.send_response(200 if not body.startswith(b'{"message') else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def sample(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def measure(binary, label, repo, upstream, work):
    d = os.path.join(work, f"flood-{label}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    config = os.path.join(d, "c.yaml")
    with open(config, "w") as f:
        f.write(f"sources:\n  - name: repo\n    type: git\n    path: {repo}\n    schedule: 1h\n"
                f"  - name: gh\n    type: github\n    api_url: {upstream}\n    repositories: [acme/flood]\n"
                f"    pull_requests_and_issues: false\n    webhook_secret: {SECRET}\n    schedule: 1h\n")
    log = open(os.path.join(d, "daemon.log"), "w")
    daemon, addr = start_daemon(binary, config, os.path.join(d, "db.sqlite"), log)
    out = {}
    try:
        wait_answering(daemon, addr)
        time.sleep(3)

        def reload_latency():
            took = []
            for _ in range(10):
                t = time.time()
                req = urllib.request.Request(f"http://{addr}/-/reload", data=b"", method="POST")
                urllib.request.urlopen(req, timeout=120).read()
                took.append(time.time() - t)
            return statistics.median(took)

        def metrics():
            with urllib.request.urlopen(f"http://{addr}/metrics", timeout=60) as r:
                return r.read().decode()

        out["reload_idle_ms"] = reload_latency() * 1000
        renders0 = sample(metrics(), "mlsteward_renders_total")
        answered = [0]
        count_lock = threading.Lock()
        lags = []
        scrapes = []
        stop = threading.Event()

        def sampler():
            while not stop.is_set():
                began = time.time()
                text = metrics()
                scrapes.append(time.time() - began)
                served = sample(text, 'mlsteward_webhook_requests_total{forge="github",result="unauthorized"}')
                now_answered = answered[0]
                lags.append((time.time(), now_answered, served or 0))
                stop.wait(0.1)

        def hook(_):
            req = urllib.request.Request(f"http://{addr}/webhooks/github", data=b'{"zen": "x"}',
                                         headers={"X-GitHub-Event": "push"})
            try:
                urllib.request.urlopen(req, timeout=60)
            except urllib.error.HTTPError:
                pass
            with count_lock:
                answered[0] += 1

        t = threading.Thread(target=sampler)
        t.start()
        cpu0, t0 = cpu_seconds(daemon.pid), time.time()
        with ThreadPoolExecutor(64) as pool:
            list(pool.map(hook, range(3000)))
        out["burst_seconds"] = time.time() - t0
        out["reload_after_burst_ms"] = reload_latency() * 1000
        out["burst_cpu_seconds"] = cpu_seconds(daemon.pid) - cpu0
        time.sleep(1.5)
        stop.set()
        t.join()
        final = metrics()
        renders1 = sample(final, "mlsteward_renders_total")
        out["renders_during_burst"] = (renders1 - renders0) if renders0 is not None else None
        out["unauthorized_counted"] = sample(final, 'mlsteward_webhook_requests_total{forge="github",result="unauthorized"}')
        # The longest time the served count stayed behind the requests answered at a moment.
        worst = 0.0
        for i, (at, answered_then, _) in enumerate(lags):
            for later, _, served in lags[i:]:
                if served >= answered_then:
                    worst = max(worst, later - at)
                    break
        out["counter_lag_max_s"] = worst
        out["scrape_during_burst_max_ms"] = max(scrapes) * 1000 if scrapes else None
    finally:
        daemon.terminate()
        daemon.wait()
        log.close()
    shutil.rmtree(d, ignore_errors=True)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--before")
    p.add_argument("--after", default=os.path.join(ROOT, "target", "release", "mlsteward"))
    p.add_argument("--work", default="/work/bench-cache")
    p.add_argument("--repo", help="an existing repository to use instead of the 20,000-commit one")
    a = p.parse_args()
    repo = a.repo or os.path.join(a.work, "flood-repo")
    if not a.repo and not os.path.exists(os.path.join(repo, ".done")):
        shutil.rmtree(repo, ignore_errors=True)
        os.makedirs(repo)
        run("git", "init", "-q", "-b", "main", repo)
        stream = run(sys.executable, os.path.join(ROOT, "bench", "make_repo.py"), "20000").stdout
        subprocess.run(["git", "-C", repo, "fast-import", "--quiet"], input=stream, check=True)
        run("git", "-C", repo, "reset", "-q", "--hard", "main")
        open(os.path.join(repo, ".done"), "w").close()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Github)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream = f"http://127.0.0.1:{server.server_address[1]}"
    results = {}
    for label, binary in (("before", a.before), ("after", a.after)):
        if binary:
            results[label] = measure(binary, label, repo, upstream, a.work)
            print(label, json.dumps(results[label]), file=sys.stderr)
    rows = [("reload, idle (median ms)", "reload_idle_ms", "{:.0f}"),
            ("reload right after 3,000 refused webhooks (median ms)", "reload_after_burst_ms", "{:.0f}"),
            ("burst duration, s", "burst_seconds", "{:.1f}"),
            ("daemon CPU during the burst, s", "burst_cpu_seconds", "{:.1f}"),
            ("renders during the burst", "renders_during_burst", "{:.0f}"),
            ("refusals counted", "unauthorized_counted", "{:.0f}"),
            ("served counter behind the answers, max s", "counter_lag_max_s", "{:.1f}"),
            ("a scrape of /metrics during the burst, max ms", "scrape_during_burst_max_ms", "{:.0f}")]
    print("| figure | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for name, key, fmt in rows:
        print(f"| {name} | " + " | ".join(
            fmt.format(results[l][key]) if results[l].get(key) is not None else "n/a" for l in results) + " |")


if __name__ == "__main__":
    main()
