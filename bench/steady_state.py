#!/usr/bin/env python3
"""Steady state at scale: what a daemon costs when little changes, before and after.

Ten wide repositories (COMMITS commits each; 5,000 authors, 100 asset directories, 1 to 3
files per commit; bench/make_repo.py) in one store, 100 catalog assets each, `top_n: 20`; one
`http_probe` every 2 s against a local target; one GitHub source (a fake in GitHub's
documented shapes, ETags and 304s) taking one signed webhook per second; a Prometheus-like
scrape every 15 s. For each binary given (the one before the redesign and the one after), in
one run and on the same repositories:

- first mine: wall time until ready, peak RSS;
- steady state: the daemon's CPU (user + system, from /proc) over MINUTES, as a share of one
  core, with the probes, webhooks and scrapes going on;
- probe to /metrics: after each probe's answer, how long until /metrics counts it (polled
  every 20 ms for 60 s);
- 10 new commits in one repository: from the start of the collection that finds them to
  /metrics counting them (collection and derive), against `collect-once` of that repository
  alone from scratch (its full mine); with STEADY_LOG_LEVEL=debug, also from the start of
  that collection to the end of the render that derived them (the daemon's log), and the
  same again with no client polling /metrics meanwhile.

    bench/steady_state.py [--before BIN] [--after BIN] [--commits N] [--minutes M]
                          [--work DIR]

Repositories are generated once into DIR (default /work/bench-cache) and reused. Results are
printed as a Markdown table and written to DIR/steady_state.json.
"""
import argparse
import gzip
import hashlib
import hmac
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchlib import cpu_seconds, rss_mib, run, start_daemon, wait_answering

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "5b3f9c0e7a1d4e2f8c6b0a9d"
REPOS = 10
# How many times 10 commits are appended to r0 (the median is reported).
TEN_TIMES = 5


def generate(work, commits):
    """Ten repositories of the wide shape, reused when present."""
    base = os.path.join(work, f"wide{commits}")
    for k in range(REPOS):
        path = os.path.join(base, f"r{k}")
        if os.path.exists(os.path.join(path, ".done")):
            continue
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        run("git", "init", "-q", "-b", "main", path)
        stream = run(sys.executable, os.path.join(ROOT, "bench", "make_repo.py"), str(commits),
                     "1", "5000", "100", str(k), "3").stdout
        subprocess.run(["git", "-C", path, "fast-import", "--quiet"], input=stream, check=True)
        run("git", "-C", path, "reset", "-q", "--hard", "main")
        open(os.path.join(path, ".done"), "w").close()
    return base


# A fake GitHub: one repository with a handful of finished runs, ETags and 304s.
NOW = int(time.time())
RUNS = [{
    "id": 1000 + i, "name": "ci", "head_branch": "main", "head_sha": "%040x" % i,
    "event": "push", "status": "completed", "conclusion": "success" if i % 4 else "failure",
    "run_attempt": 1, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - i * 3600 - 700)),
    "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - i * 3600)),
    "run_started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - i * 3600 - 600)),
    "path": ".github/workflows/ci.yml",
} for i in range(20)]
PROBES = []  # monotonic-comparable end times (time.time()) of answered probes
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/probe":
            self.answer(200, b'{"ok": true}', [("content-type", "application/json")])
            with LOCK:
                PROBES.append(time.time())
            return
        if path == "/repos/acme/steady":
            body = json.dumps({"full_name": "acme/steady", "default_branch": "main"}).encode()
        elif path == "/repos/acme/steady/actions/runs":
            body = json.dumps({"total_count": len(RUNS), "workflow_runs": RUNS}).encode()
        else:
            self.answer(404, b'{"message": "Not Found"}')
            return
        etag = '"%s"' % hashlib.sha1(body).hexdigest()
        headers = [("content-type", "application/json"), ("etag", etag),
                   ("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "4999"),
                   ("x-ratelimit-reset", str(int(time.time()) + 3600))]
        if self.headers.get("if-none-match") == etag:
            self.answer(304, b"", headers)
        else:
            self.answer(200, body, headers)


def write_config(path, repos, upstream):
    with open(path, "w") as f:
        f.write("recognition:\n  top_n: 20\nsources:\n")
        for k in range(REPOS):
            schedule = "30s" if k == 0 else "5m"
            f.write(f"  - name: r{k}\n    type: git\n    path: {repos}/r{k}\n"
                    f"    schedule: {schedule}\n    timeout: 30m\n")
        f.write(f"  - name: probe\n    type: http_probe\n    asset: r0-a0\n    url: {upstream}/probe\n"
                "    schedule: 2s\n")
        f.write(f"  - name: gh\n    type: github\n    api_url: {upstream}\n    repositories: [acme/steady]\n"
                f"    pull_requests_and_issues: false\n    webhook_secret: {SECRET}\n    schedule: 1h\n")
        f.write("catalog:\n")
        for k in range(REPOS):
            for a in range(100):
                f.write(f"  - id: r{k}-a{a}\n    kind: library\n    repository: r{k}\n"
                        f"    paths: [\"assets/a{a}/**\"]\n")


def scrape(addr, timeout=30):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=timeout) as r:
        return b"\n" + r.read()


def sample(text, prefix):
    """The sum of the samples whose line starts with `prefix` (found without splitting the
    whole exposition into lines, so that polling stays cheap at millions of commits)."""
    total, found, needle, at = 0.0, False, b"\n" + prefix.encode(), 0
    while (at := text.find(needle, at)) >= 0:
        end = text.find(b"\n", at + 1)
        line = text[at + 1:end if end >= 0 else len(text)]
        total += float(line.rsplit(b" ", 1)[1])
        found, at = True, at + 1
    return total if found else None


def log_time(line):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", line)
    if not m:
        return None
    whole, frac = m.group(1).split(".")
    return time.mktime(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0." + frac)


def found_in_log(lines, appending, until):
    """The r0 collection that started between `appending` and `until` (the last such) as
    (start, duration), and when the render that derived the git groups after it ended (None
    without debug logging or before it is logged)."""
    found = None
    for line in lines:
        if "collection succeeded" in line and "source=r0 " in line:
            m = re.search(r"duration_seconds=([0-9.]+)", line)
            ended = log_time(line)
            if m and ended:
                started = ended - float(m.group(1))
                if appending <= started <= until:
                    found = (started, float(m.group(1)))
    if not found:
        return None, None
    for line in lines:
        at = log_time(line)
        if " rendered " in line and '("credits"' in line and at and at >= found[0] + found[1]:
            return found, at
    return found, None


def measure(binary, label, repos, upstream, work, minutes):
    out = {}
    d = os.path.join(work, f"steady-{label}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    config = os.path.join(d, "c.yaml")
    write_config(config, repos, upstream)
    log_path = os.path.join(d, "daemon.log")
    log = open(log_path, "w")
    started = time.time()
    # STEADY_LOG_LEVEL=debug keeps each collection's and render's phase timings in the log,
    # which is copied to WORK/steady-LABEL.log.
    level = ["--log.level", os.environ["STEADY_LOG_LEVEL"]] if os.environ.get("STEADY_LOG_LEVEL") else []
    daemon, addr = start_daemon(binary, config, os.path.join(d, "db.sqlite"), log, level)
    try:
        wait_answering(daemon, addr, poll=1)
        out["first_mine_seconds"] = time.time() - started
        out["first_mine_peak_rss_mib"] = rss_mib(daemon.pid, "VmHWM")
        # Let the first renders and the first collections after ready settle.
        time.sleep(20)

        # Steady state: webhooks every second, a scrape every 15 s.
        stop = threading.Event()

        def webhooks():
            n = 0
            while not stop.is_set():
                n += 1
                body = json.dumps({"action": "completed",
                                   "repository": {"full_name": "acme/steady"}}).encode()
                sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                req = urllib.request.Request(f"http://{addr}/webhooks/github", data=body, headers={
                    "X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": f"{label}-{n}",
                    "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
                try:
                    urllib.request.urlopen(req, timeout=10).read()
                except Exception:
                    pass
                stop.wait(1)

        def scraper():
            while not stop.is_set():
                try:
                    req = urllib.request.Request(f"http://{addr}/metrics",
                                                 headers={"Accept-Encoding": "gzip"})
                    with urllib.request.urlopen(req, timeout=30) as r:
                        body = r.read()
                        if r.headers.get("content-encoding") == "gzip":
                            gzip.decompress(body)
                except Exception:
                    pass
                stop.wait(15)

        threads = [threading.Thread(target=webhooks), threading.Thread(target=scraper)]
        for t in threads:
            t.start()
        cpu0, t0 = cpu_seconds(daemon.pid), time.time()
        time.sleep(minutes * 60)
        cpu1, t1 = cpu_seconds(daemon.pid), time.time()
        out["steady_cpu_share"] = (cpu1 - cpu0) / (t1 - t0)
        stop.set()
        for t in threads:
            t.join()

        # Probe to /metrics: poll every 20 ms for 60 s. A probe counts as shown at the end of
        # the first scrape that counts it (an upper bound: the render itself ended earlier).
        delays = []
        seen = sample(scrape(addr), "mlsteward_probes_total")
        end = time.time() + 60
        while time.time() < end:
            count = sample(scrape(addr), "mlsteward_probes_total")
            now = time.time()
            if count is not None and seen is not None and count > seen:
                with LOCK:
                    last = PROBES[-1] if PROBES else now
                delays.append(now - last)
            seen = count
            time.sleep(0.02)
        out["probe_to_metrics_ms_median"] = statistics.median(delays) * 1000 if delays else None
        out["probe_to_metrics_ms_max"] = max(delays) * 1000 if delays else None
        out["probes_seen"] = len(delays)

        # Ten new commits in r0, TEN_TIMES times in a row: from the start of the collection
        # that finds them to the end of the first scrape that counts them. Then TEN_TIMES more
        # with no client polling /metrics (the poller's scrapes share the two cores with the
        # collection): from the start of the collection to the end of the render that
        # derived them, as the daemon's debug log times them.
        r0 = os.path.join(repos, "r0")
        tip = run("git", "-C", r0, "rev-parse", "main").stdout.decode().strip()
        credited = 'mlsteward_git_commits{source="r0",outcome="credited"}'
        collections, totals, published = [], [], []
        quiet_collections, quiet_published = [], []
        try:
            quiet_rounds = TEN_TIMES if os.environ.get("STEADY_LOG_LEVEL") == "debug" else 0
            for quiet in [False] * TEN_TIMES + [True] * quiet_rounds:
                with open(log_path) as f:
                    f.seek(0, 2)
                    mark = f.tell()
                before = None if quiet else sample(scrape(addr), credited)
                count = int(run("git", "-C", r0, "rev-list", "--count", "main").stdout)
                stream = run(sys.executable, os.path.join(ROOT, "bench", "make_repo.py"), "10",
                             str(count + 1), "5000", "100", "0", "3").stdout
                appending = time.time()
                subprocess.run(["git", "-C", r0, "fast-import", "--quiet"], input=stream,
                               check=True)
                appeared = None
                deadline = time.time() + 120
                while time.time() < deadline:
                    if quiet:
                        with open(log_path) as f:
                            f.seek(mark)
                            found, at = found_in_log(f.readlines(), appending, time.time())
                        if at is not None:
                            quiet_collections.append(found[1])
                            quiet_published.append(at - found[0])
                            break
                        time.sleep(0.2)
                        continue
                    value = sample(scrape(addr), credited)
                    if value is not None and before is not None and value > before:
                        appeared = time.time()
                        break
                    time.sleep(0.02)
                if appeared is None:
                    continue
                with open(log_path) as f:
                    f.seek(mark)
                    found, at = found_in_log(f.readlines(), appending, appeared)
                if found:
                    collections.append(found[1])
                    totals.append(appeared - found[0])
                    if at is not None:
                        published.append(at - found[0])
        finally:
            run("git", "-C", r0, "update-ref", "refs/heads/main", tip)
        if collections and totals:
            out["ten_commits_collection_seconds"] = statistics.median(collections)
            out["ten_commits_total_seconds"] = statistics.median(totals)
            out["ten_commits_total_seconds_max"] = max(totals)
        if published:
            out["ten_commits_published_seconds"] = statistics.median(published)
            out["ten_commits_published_seconds_max"] = max(published)
        if quiet_published:
            out["ten_quiet_collection_seconds"] = statistics.median(quiet_collections)
            out["ten_quiet_published_seconds"] = statistics.median(quiet_published)
            out["ten_quiet_published_seconds_max"] = max(quiet_published)
        out["rss_mib_at_end"] = rss_mib(daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait()
        log.close()
        run("git", "-C", os.path.join(repos, "r0"), "reset", "-q", "--hard", "main")
    # The full mine of r0 alone, for the incremental ratio.
    alone = os.path.join(d, "alone.yaml")
    with open(alone, "w") as f:
        f.write(f"recognition:\n  top_n: 20\nsources:\n  - name: r0\n    type: git\n    path: {repos}/r0\n"
                "catalog:\n")
        for a in range(100):
            f.write(f"  - id: r0-a{a}\n    kind: library\n    repository: r0\n    paths: [\"assets/a{a}/**\"]\n")
    t = time.time()
    run(binary, "collect-once", "--config.file", alone, "--storage.path", os.path.join(d, "alone.db"))
    out["r0_full_mine_seconds"] = time.time() - t
    shutil.copy(log_path, os.path.join(work, f"steady-{label}.log"))
    shutil.rmtree(d, ignore_errors=True)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--before")
    p.add_argument("--after", default=os.path.join(ROOT, "target", "release", "mlsteward"))
    p.add_argument("--commits", type=int, default=200000)
    p.add_argument("--minutes", type=float, default=5)
    p.add_argument("--work", default="/work/bench-cache")
    a = p.parse_args()
    repos = generate(a.work, a.commits)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream = f"http://127.0.0.1:{server.server_address[1]}"
    results = {}
    for label, binary in (("before", a.before), ("after", a.after)):
        if binary:
            print(f"measuring {label}: {binary}", file=sys.stderr)
            results[label] = measure(binary, label, repos, upstream, a.work, a.minutes)
            print(json.dumps(results[label]), file=sys.stderr)
    with open(os.path.join(a.work, "steady_state.json"), "w") as f:
        json.dump(results, f, indent=2)
    rows = [
        ("first mine, s", "first_mine_seconds", "{:.0f}"),
        ("first mine peak RSS, MiB", "first_mine_peak_rss_mib", "{:.0f}"),
        ("steady CPU, share of one core", "steady_cpu_share", "{:.2%}"),
        ("probe to /metrics, median ms", "probe_to_metrics_ms_median", "{:.0f}"),
        ("probe to /metrics, max ms", "probe_to_metrics_ms_max", "{:.0f}"),
        ("10 new commits: collection, median s", "ten_commits_collection_seconds", "{:.3f}"),
        ("10 new commits: collection + derive + render, median s", "ten_commits_published_seconds", "{:.3f}"),
        ("10 new commits: collection + derive + render, max s", "ten_commits_published_seconds_max", "{:.3f}"),
        ("10 new commits: until /metrics, median s", "ten_commits_total_seconds", "{:.3f}"),
        ("10 new commits: until /metrics, max s", "ten_commits_total_seconds_max", "{:.3f}"),
        ("10 new commits, no client polling: collection, median s", "ten_quiet_collection_seconds", "{:.3f}"),
        ("10 new commits, no client polling: collection + derive + render, median s", "ten_quiet_published_seconds", "{:.3f}"),
        ("10 new commits, no client polling: collection + derive + render, max s", "ten_quiet_published_seconds_max", "{:.3f}"),
        ("r0 full mine alone, s", "r0_full_mine_seconds", "{:.1f}"),
        ("RSS at the end, MiB", "rss_mib_at_end", "{:.0f}"),
    ]
    labels = list(results)
    print("| figure | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name, key, fmt in rows:
        cells = []
        for l in labels:
            v = results[l].get(key)
            cells.append(fmt.format(v) if v is not None else "n/a")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for l in labels:
        r = results[l]
        if r.get("ten_commits_total_seconds") and r.get("r0_full_mine_seconds"):
            print(f"{l}: 10 new commits cost {r['ten_commits_total_seconds'] / r['r0_full_mine_seconds']:.2%} "
                  f"of r0's full mine until /metrics")
        if r.get("ten_commits_published_seconds") and r.get("r0_full_mine_seconds"):
            print(f"{l}: 10 new commits cost "
                  f"{r['ten_commits_published_seconds'] / r['r0_full_mine_seconds']:.2%} "
                  f"of r0's full mine in collection, derive and render")
        if r.get("ten_quiet_published_seconds") and r.get("r0_full_mine_seconds"):
            print(f"{l}: with no client polling, "
                  f"{r['ten_quiet_published_seconds'] / r['r0_full_mine_seconds']:.2%} "
                  f"of r0's full mine in collection, derive and render")


if __name__ == "__main__":
    main()
