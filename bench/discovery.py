#!/usr/bin/env python3
"""An organisation of many repositories: mlsteward discovering and mining them against
`git log --numstat --no-renames` over the same repositories one by one, in one run.

Generates REPOS bare repositories of COMMITS commits each (bench/make_repo.py, one seed per
repository, the same 50 people throughout) under WORK/orgREPOSxCOMMITS, serves them as one
GitHub organisation from a fake GitHub (two pages of 100, ETags and 304s, `file://` clone
URLs), and measures, in this order:

1. git: `git log --numstat --no-renames` of every repository in a loop (the diff work every
   contribution miner does), and the same loop after `git clone --mirror` of each (what a
   miner that keeps mirrors does on its first run): wall time and the peak RSS of the
   largest single git process (the clones over `file://`, as mlsteward fetches: a local
   path would hard-link the packs instead of transferring them);
2. mlsteward (release build, `git_discovery`, default concurrency: the number of cores):
   from start until every repository's first collection succeeded, the daemon's peak RSS
   (VmHWM), and its CPU and RSS over STEADY seconds of steady state with every repository
   collected once a minute and nothing new, against a `git fetch` + `git log` loop over the
   mirrors for one such cycle.

    bench/discovery.py BINARY [--repos 200] [--commits 2000] [--steady 120] [--work DIR]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
import hashlib
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, rss_mib, start_daemon, wait_answering  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORG = []  # (name, clone url)
REQUESTS = {"200": 0, "304": 0}


def generate(work, repos, commits):
    base = os.path.join(work, f"org{repos}x{commits}")
    os.makedirs(base, exist_ok=True)
    for k in range(repos):
        path = os.path.join(base, f"r{k}.git")
        if os.path.exists(os.path.join(path, "done")):
            continue
        subprocess.run(["rm", "-rf", path], check=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", path], check=True)
        make = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "make_repo.py"),
                                 str(commits), "1", "50", "0", str(k + 1)], stdout=subprocess.PIPE)
        subprocess.run(["git", "-C", path, "fast-import", "--quiet"], stdin=make.stdout, check=True)
        make.wait()
        open(os.path.join(path, "done"), "w").close()
    return base


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path != "/orgs/bench/repos":
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        page, per = int(params.get("page", 1)), int(params.get("per_page", 30))
        chunk = ORG[(page - 1) * per: page * per]
        body = json.dumps([{"full_name": f"bench/{n}", "clone_url": u, "default_branch": "main",
                            "archived": False, "fork": False} for n, u in chunk]).encode()
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:16]
        headers = [("etag", etag), ("x-ratelimit-limit", "5000"), ("x-ratelimit-remaining", "4999")]
        if page * per < len(ORG):
            headers.append(("link", f'<http://{self.headers["host"]}{path}?per_page={per}&type=all&page={page + 1}>; rel="next"'))
        if self.headers.get("if-none-match") == etag:
            REQUESTS["304"] += 1
            self.send_response(304)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        REQUESTS["200"] += 1
        self.send_response(200)
        for k, v in headers + [("content-type", "application/json")]:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def timed_loop(commands):
    """Runs each command in turn: (wall seconds, peak RSS MiB of the largest child)."""
    started = time.time()
    for c in commands:
        subprocess.run(c, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.time() - started
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def metrics(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=60) as r:
        return r.read().decode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--repos", type=int, default=200)
    p.add_argument("--commits", type=int, default=2000)
    p.add_argument("--steady", type=int, default=120)
    p.add_argument("--work", default="/work/bench-cache")
    a = p.parse_args()
    started = time.time()
    base = generate(a.work, a.repos, a.commits)
    print(f"{a.repos} repositories of {a.commits} commits ready in {time.time() - started:.0f} s", flush=True)
    repos = [os.path.join(base, f"r{k}.git") for k in range(a.repos)]
    ORG.extend((f"r{k}", f"file://{r}") for k, r in enumerate(repos))

    # git, one repository after another.
    log = lambda r: ["git", "-C", r, "log", "--numstat", "--no-renames", "main"]  # noqa: E731
    git_wall, git_rss = timed_loop([log(r) for r in repos])
    mirrors = os.path.join(a.work, "discovery-git-mirrors")
    subprocess.run(["rm", "-rf", mirrors], check=True)
    os.makedirs(mirrors)
    mirrored = [os.path.join(mirrors, f"r{k}.git") for k in range(a.repos)]
    clone_wall, clone_rss = timed_loop(
        [c for r, m in zip(repos, mirrored)
         for c in (["git", "clone", "-q", "--mirror", f"file://{r}", m], log(m))])
    cycle_wall, _ = timed_loop(
        [c for m in mirrored for c in (["git", "-C", m, "fetch", "-q", "origin"], log(m))])
    fetch_only_wall, _ = timed_loop([["git", "-C", m, "fetch", "-q", "origin"] for m in mirrored])
    print(f"git log loop: {git_wall:.1f} s; clone --mirror + log loop: {clone_wall:.1f} s; "
          f"largest git process {max(git_rss, clone_rss):.0f} MiB", flush=True)
    print(f"git steady cycle (fetch + full log per repository): {cycle_wall:.1f} s; fetch only: {fetch_only_wall:.1f} s", flush=True)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    d = os.path.join(a.work, "discovery-run")
    subprocess.run(["rm", "-rf", d], check=True)
    os.makedirs(d)
    config = os.path.join(d, "c.yaml")
    with open(config, "w") as f:
        f.write(f"sources:\n  - name: org\n    type: git_discovery\n    github: bench\n"
                f"    api_url: http://127.0.0.1:{server.server_address[1]}\n    schedule: 1m\n"
                f"    repository_schedule: 1m\n    repository_timeout: 1h\n")
    log_file = open(os.path.join(d, "daemon.log"), "w")
    t0 = time.time()
    daemon, addr = start_daemon(a.binary, config, os.path.join(d, "db.sqlite"), log_file)
    try:
        wait_answering(daemon, addr, "/-/healthy")
        while True:
            m = metrics(addr)
            ok = sum(1 for line in m.splitlines()
                     if line.startswith('mlsteward_collector_success{collector="git"') and line.endswith(" 1"))
            if ok >= a.repos:
                break
            if daemon.poll() is not None:
                raise SystemExit("the daemon exited; see its log")
            time.sleep(0.5)
        first = time.time() - t0
        peak = rss_mib(daemon.pid, "VmHWM")
        commits = sum(float(line.rsplit(" ", 1)[1]) for line in m.splitlines()
                      if line.startswith("mlsteward_git_commits{"))
        print(f"mlsteward first mine of {a.repos} repositories ({commits:.0f} commits): {first:.1f} s, "
              f"peak RSS {peak:.0f} MiB", flush=True)
        # Steady state: every repository collected once a minute, nothing new.
        time.sleep(10)
        cpu0, w0 = cpu_seconds(daemon.pid), time.time()
        time.sleep(a.steady)
        cpu = (cpu_seconds(daemon.pid) - cpu0) / (time.time() - w0)
        rss = rss_mib(daemon.pid)
        print(f"mlsteward steady state over {a.steady} s: {cpu * 100:.1f}% of a core "
              f"({cpu * 60:.1f} CPU s per one-minute cycle of {a.repos} repositories), RSS {rss:.0f} MiB; "
              f"listing requests 200: {REQUESTS['200']}, 304: {REQUESTS['304']}", flush=True)
        print(f"ratios: first mine {first / git_wall:.2f}x the git log loop, "
              f"{first / clone_wall:.2f}x clone + log; steady cycle {cpu * 60 / cycle_wall:.2f}x "
              f"git's fetch + log cycle (CPU against wall)", flush=True)
    finally:
        daemon.terminate()
        daemon.wait()


if __name__ == "__main__":
    main()
