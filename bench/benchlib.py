"""What the Python benchmarks share: running commands, free ports, a daemon's CPU and memory
from /proc, and starting `mlsteward run` until it answers."""
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User and system CPU seconds of process `pid`."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid, field="VmRSS"):
    """A memory figure of /proc/PID/status in MiB (VmRSS now, VmHWM its peak)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def start_daemon(binary, config, storage, log, extra=(), limit=None):
    """`mlsteward run` on a free port, its log to the open file `log`, under `ulimit -n
    limit` when given: (process, address)."""
    addr = f"127.0.0.1:{free_port()}"
    cmd = [binary, "run", "--config.file", config, "--storage.path", storage,
           "--web.listen-address", addr, *extra]
    if limit:
        cmd = ["sh", "-c", f"ulimit -n {limit} && exec \"$0\" \"$@\"", *cmd]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log,
                         env={**os.environ, "NO_COLOR": "1"})
    return p, addr


def wait_answering(p, addr, path="/-/ready", timeout=3600, poll=0.5):
    """Waits until `path` answers 200 (any HTTP answer for /-/healthy behind basic auth);
    stops the benchmark if the daemon exits or never answers."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{addr}{path}", timeout=5) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError:
            if path == "/-/healthy":
                return  # it answers (401 with basic auth)
        except Exception:
            pass
        if p.poll() is not None:
            raise SystemExit(f"the daemon exited (status {p.returncode}); see its log")
        time.sleep(poll)
    raise SystemExit("the daemon never answered")
