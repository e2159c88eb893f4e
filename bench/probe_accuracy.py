#!/usr/bin/env python3
"""Probe accuracy and cost: mlsteward's http_probe against Prometheus's blackbox_exporter.

A loopback HTTP server answers every request after a fixed DELAY_MS. Both probers probe it N
times in the same run: mlsteward as a daemon (`mlsteward run`, one http_probe source making
50 probes per collection), blackbox_exporter through its `/probe` endpoint (module http_2xx).
Reported: the median absolute error of the measured latency against the true delay
(mlsteward: its stored samples; blackbox: `probe_duration_seconds`), and the CPU time (user +
system, from /proc) each prober's process spent per 1,000 probes, with the ratios.

    bench/probe_accuracy.py [BINARY] [N] [DELAY_MS]

Needs Debian's prometheus-blackbox-exporter (`apt-get install prometheus-blackbox-exporter`).
"""

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchlib import cpu_seconds, free_port

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/release/mlsteward"
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
DELAY = (int(sys.argv[3]) if len(sys.argv) > 3 else 20) / 1000.0


class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        time.sleep(DELAY)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:
            pass  # the prober gave up on this answer


def wait_http(url, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"{url} never answered")


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_address[1]}/"
    rows = []
    with tempfile.TemporaryDirectory() as d:
        # mlsteward: a daemon probing until N samples are stored.
        config = os.path.join(d, "c.yaml")
        with open(config, "w") as f:
            f.write(f"sources:\n  - name: slow\n    type: http_probe\n    asset: bench\n    url: {target}\n"
                    f"    probes: 50\n    schedule: 1s\n")
        store = os.path.join(d, "s.db")
        port = free_port()
        daemon = subprocess.Popen([BINARY, "run", "--config.file", config, "--storage.path", store,
                                   "--web.listen-address", f"127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/-/ready")
            start_cpu = cpu_seconds(daemon.pid)
            start_count = 0
            while True:
                with sqlite3.connect(store) as db:
                    count = db.execute("SELECT COUNT(*) FROM probe_samples").fetchone()[0]
                if start_count == 0:
                    start_count = count
                if count - start_count >= N:
                    break
                time.sleep(0.2)
            cpu = cpu_seconds(daemon.pid) - start_cpu
            with sqlite3.connect(store) as db:
                lat = [r[0] for r in db.execute(
                    "SELECT latency FROM probe_samples WHERE latency IS NOT NULL ORDER BY at_ms")]
            probes = count - start_count
        finally:
            daemon.terminate()
            daemon.wait()
        lat = lat[-N:]
        rows.append(("mlsteward", lat, cpu * 1000 / probes))

        # blackbox_exporter: N probes through /probe.
        bport = free_port()
        bb = subprocess.Popen(["prometheus-blackbox-exporter", "--config.file=/etc/prometheus/blackbox.yml",
                               f"--web.listen-address=127.0.0.1:{bport}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{bport}/metrics")
            start_cpu = cpu_seconds(bb.pid)
            lat = []
            url = f"http://127.0.0.1:{bport}/probe?module=http_2xx&target={target}"
            for _ in range(N):
                with urllib.request.urlopen(url) as r:
                    for line in r.read().decode().splitlines():
                        if line.startswith("probe_duration_seconds "):
                            lat.append(float(line.split()[1]))
            cpu = cpu_seconds(bb.pid) - start_cpu
        finally:
            bb.terminate()
            bb.wait()
        rows.append(("blackbox_exporter", lat, cpu * 1000 / N))
    server.shutdown()

    print(f"| prober | probes | median latency ms | median abs error ms | p99 abs error ms | CPU s per 1,000 probes |")
    print("|---|---|---|---|---|---|")
    stats = {}
    for who, lat, cpu in rows:
        err = sorted(abs(x - DELAY) for x in lat)
        med = statistics.median(err)
        p99 = err[min(len(err) - 1, int(0.99 * len(err)))]
        stats[who] = (med, cpu)
        print(f"| {who} | {len(lat)} | {statistics.median(lat) * 1000:.2f} | {med * 1000:.3f} | {p99 * 1000:.3f} | {cpu:.3f} |")
    m, b = stats["mlsteward"], stats["blackbox_exporter"]
    print()
    print(f"ratios (mlsteward / blackbox_exporter): median error {m[0] / b[0]:.2f}, CPU per probe {m[1] / b[1]:.2f}")


if __name__ == "__main__":
    main()
