#!/usr/bin/env python3
"""Sharding with --shard.peers on real histories: is the replicas' union one process's?

    bench/check_shard_peers.py REPO [REPO ...]

Mines the repositories (each a git source) once with `collect-once`, then runs three
`mlsteward run --shard K/3 --shard.peers ...` replicas on loopback ports with their own
stores, waits until the union of their derived series stops changing, and prints every series
that differs from the one process's (organisation-wide families included). Uses
target/debug/mlsteward unless MLSTEWARD_BIN names another binary. Exit 1 on a difference.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("MLSTEWARD_BIN", os.path.join(ROOT, "target/debug/mlsteward"))
SELF = (
    "mlsteward_collector_",
    "mlsteward_store_healthy",
    "mlsteward_build_info",
    "mlsteward_config_",
    "mlsteward_shard_",
    "mlsteward_webhook_",
)


def derived(text):
    return sorted(
        l for l in text.splitlines() if l and not l.startswith("#") and not l.startswith(SELF)
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return r.status, r.read().decode()


def main():
    repos = [os.path.abspath(r) for r in sys.argv[1:]]
    if not repos:
        sys.exit(__doc__)
    work = tempfile.mkdtemp(prefix="shard-peers-")
    config = os.path.join(work, "c.yaml")
    with open(config, "w") as f:
        f.write("sources:\n")
        for r in repos:
            name = os.path.basename(os.path.dirname(r)) if r.endswith("/repo") else os.path.basename(r)
            f.write(f"  - name: {name.replace('+', '-')}\n    type: git\n    path: {r}\n")
    started = time.time()
    whole = subprocess.run(
        [BIN, "collect-once", "--config.file", config, "--storage.path", os.path.join(work, "whole.db")],
        capture_output=True, text=True, check=True,
    ).stdout
    print(f"one process: {time.time() - started:.1f} s, {len(derived(whole))} derived series")
    ports = [free_port() for _ in range(3)]
    peers = ",".join(f"http://127.0.0.1:{p}" for p in ports)
    replicas = []
    started = time.time()
    for k in range(3):
        log = open(os.path.join(work, f"shard{k}.log"), "w")
        replicas.append(subprocess.Popen(
            [BIN, "run", "--config.file", config, "--web.listen-address", f"127.0.0.1:{ports[k]}",
             "--storage.path", os.path.join(work, f"shard{k}.db"), "--shard", f"{k}/3",
             "--shard.peers", peers, "--shard.peer-interval", "2s"],
            stdout=subprocess.DEVNULL, stderr=log,
        ))
    try:
        union, stable_since = None, None
        while time.time() - started < 1800:
            time.sleep(2)
            try:
                ready = all(get(p, "/-/ready")[0] == 200 for p in ports)
                texts = [get(p, "/metrics")[1] for p in ports]
            except OSError:
                continue
            now = sorted(l for t in texts for l in derived(t))
            if ready and now == union and all("mlsteward_shard_peer_up" in t for t in texts):
                up = all(" 0" not in l for t in texts for l in t.splitlines()
                         if l.startswith("mlsteward_shard_peer_up{"))
                if up and time.time() - stable_since > 8:
                    break
            else:
                union, stable_since = now, time.time()
        print(f"three replicas with peers: settled after {time.time() - started:.1f} s")
        size = len(get(ports[0], "/api/v1/shard/people")[1])
        print(f"shard 0's people summary: {size / 1024:.0f} KiB")
    finally:
        for r in replicas:
            r.terminate()
        for r in replicas:
            r.wait()
    expected = derived(whole)
    missing = [l for l in expected if l not in union]
    extra = [l for l in union if l not in expected]
    twice = len(union) - len(set(union))
    print(f"union: {len(union)} series; missing {len(missing)}, extra {len(extra)}, twice {twice}")
    for l in missing[:20]:
        print("  missing", l)
    for l in extra[:20]:
        print("  extra  ", l)
    org = [l for l in union if l.startswith(("mlsteward_active_contributors", "mlsteward_new_contributors"))]
    print("organisation-wide:", *org, sep="\n  ")
    sys.exit(1 if missing or extra or twice else 0)


if __name__ == "__main__":
    main()
