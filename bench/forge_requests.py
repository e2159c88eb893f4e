#!/usr/bin/env python3
"""Steady-state cost of polling GitHub Actions: mlsteward against a re-listing poller.

A fake GitHub (GitHub's documented response shapes, ETags and 304s, rate-limit headers) serves
REPOS repositories of RUNS finished workflow runs each. mlsteward (`collect-once`, release or
debug build) runs CYCLES collections against it with no new activity after the first; the
peer is the model of the common CI exporters, which list each repository's runs every cycle
without validators. Every request is counted per cycle, and billable ones (every answer but a
304, which GitHub does not bill) apart.

    bench/forge_requests.py [BINARY] [REPOS] [RUNS] [CYCLES] [ITEMS]

ITEMS (`true` or `false`, default `false`) also reads pull requests and issues, which costs a
second conditional request per repository and cycle.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/release/mlsteward"
REPOS = int(sys.argv[2]) if len(sys.argv) > 2 else 50
RUNS = int(sys.argv[3]) if len(sys.argv) > 3 else 30
CYCLES = int(sys.argv[4]) if len(sys.argv) > 4 else 3
ITEMS = (sys.argv[5] if len(sys.argv) > 5 else "false") == "true"

NOW = int(time.time())
LOG = []  # (path, status)
LOCK = threading.Lock()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def runs_of(repo):
    out = []
    for i in range(RUNS):
        done = NOW - (i + 1) * 3600
        out.append({
            "id": hash((repo, i)) & 0xFFFFFFF, "name": "ci", "head_branch": "main",
            "head_sha": "%040x" % i, "event": "push", "status": "completed",
            "conclusion": "success" if i % 5 else "failure", "run_attempt": 1,
            "created_at": iso(done - 700), "updated_at": iso(done), "run_started_at": iso(done - 600),
            "path": ".github/workflows/ci.yml",
        })
    return out


REPO_RUNS = {"acme/repo-%02d" % r: runs_of(r) for r in range(REPOS)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "repos":
            body = {"full_name": parts[1] + "/" + parts[2], "default_branch": "main"}
        elif len(parts) == 4 and parts[3] == "issues":
            body = []
        elif len(parts) == 5 and parts[3:] == ["actions", "runs"]:
            runs = REPO_RUNS.get(parts[1] + "/" + parts[2], [])
            body = {"total_count": len(runs), "workflow_runs": runs[:100]}
        else:
            self.answer(404, b'{"message": "Not Found"}', {})
            return
        data = json.dumps(body).encode()
        etag = 'W/"%s"' % hashlib.sha1(data).hexdigest()
        headers = {"etag": etag, "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4000",
                   "x-ratelimit-reset": str(NOW + 3600)}
        if self.headers.get("if-none-match") == etag:
            self.answer(304, b"", headers)
        else:
            self.answer(200, data, headers)

    def answer(self, status, data, headers):
        with LOCK:
            LOG.append((self.path, status))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def cycle_counts(mark):
    with LOCK:
        part = LOG[mark:]
        return len(part), sum(1 for _, s in part if s != 304), len(LOG)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = "http://127.0.0.1:%d" % server.server_address[1]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        config = os.path.join(d, "c.yaml")
        repos = ", ".join(sorted(REPO_RUNS))
        with open(config, "w") as f:
            f.write("sources:\n  - name: gh\n    type: github\n    api_url: %s\n    repositories: [%s]\n"
                    "    pull_requests_and_issues: %s\n" % (api, repos, "true" if ITEMS else "false"))
        mark = 0
        for c in range(CYCLES):
            started = time.monotonic()
            out = subprocess.run([BINARY, "collect-once", "--config.file", config,
                                  "--storage.path", os.path.join(d, "s.db")],
                                 capture_output=True, text=True)
            elapsed = time.monotonic() - started
            if out.returncode != 0:
                sys.exit("collect-once failed:\n" + out.stderr[-2000:])
            n, billable, mark = cycle_counts(mark)
            rows.append(("mlsteward", c + 1, n, billable, elapsed))
    # The peer: every cycle, list each repository's runs without validators.
    for c in range(CYCLES):
        started = time.monotonic()
        for repo in sorted(REPO_RUNS):
            with urllib.request.urlopen("%s/repos/%s/actions/runs?per_page=100" % (api, repo)) as r:
                r.read()
        elapsed = time.monotonic() - started
        n, billable, mark = cycle_counts(mark)
        rows.append(("re-listing poller", c + 1, n, billable, elapsed))
    server.shutdown()
    print("| poller | cycle | requests | billable | requests per repository | seconds |")
    print("|---|---|---|---|---|---|")
    for who, c, n, billable, elapsed in rows:
        print("| %s | %d | %d | %d | %.2f | %.2f |" % (who, c, n, billable, n / REPOS, elapsed))
    ours = [r for r in rows if r[0] == "mlsteward" and r[1] > 1]
    peer = [r for r in rows if r[0] != "mlsteward" and r[1] > 1]
    ob, pb = sum(r[3] for r in ours), sum(r[3] for r in peer)
    on, pn = sum(r[2] for r in ours), sum(r[2] for r in peer)
    print()
    print("steady state (cycles 2..%d): requests %d vs %d (ratio %.2f), billable %d vs %d (ratio %.2f)"
          % (CYCLES, on, pn, on / pn, ob, pb, ob / pb))


if __name__ == "__main__":
    main()
