"""Run a backend's documented setup far enough to know a reader can start work with it.

    python tools/check_setup.py .venv-jax jax

The README and the Running page tell a JAX or PyTorch reader to `pip install -r
requirements-BACKEND.txt` into a fresh virtualenv (what `make .venv-BACKEND/.installed` does),
then to run `KERAS_BACKEND=BACKEND jupyter lab notebooks/`. This runs that command from the
virtualenv as if it were activated, waits until the server answers, starts a Python kernel
through the server's API, and runs code in that kernel: Keras must run on BACKEND there, and
keras_convert import. Standard library only (the kernel client runs in the virtualenv); a
failure prints one line naming the step and exits 1.
"""

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_S = 120  # JupyterLab's first start on a cold 2-core machine took about 10 s
# Run by the virtualenv's Python: connects to the kernel the server started (its connection
# file) and prints the backend Keras runs on there.
IN_THE_KERNEL = """
import sys
from jupyter_client import BlockingKernelClient
client = BlockingKernelClient(connection_file=sys.argv[1])
client.load_connection_file()
client.start_channels()
client.wait_for_ready(timeout=60)
code = "import keras, keras_convert; print(keras.backend.backend())"
reply = client.execute_interactive(code, timeout=60)
sys.exit(reply["content"]["status"] != "ok")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def wait_for(what: str, probe, server: subprocess.Popen, log: Path):
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
            raise SystemExit(f"error: `jupyter lab` exited while {what}: {' '.join(tail)}")
        try:
            found = probe()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            found = None
        if found:
            return found
        time.sleep(0.5)
    raise SystemExit(f"error: no answer within {STARTUP_S} s while {what} (log: {log})")


def main(venv: str, backend: str) -> int:
    bin_dir = (ROOT / venv / "bin").resolve()
    if not (bin_dir / "jupyter-lab").exists():
        print(
            f"error: {venv} has no jupyter-lab: its lock does not install JupyterLab",
            file=sys.stderr,
        )
        return 1
    port, token = free_port(), secrets.token_hex(16)
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # as if activated
            "VIRTUAL_ENV": str(bin_dir.parent),
            "KERAS_BACKEND": backend,
            "JUPYTER_RUNTIME_DIR": scratch,  # the reader's own ~/.local stays untouched
        }
        log = Path(scratch) / "lab.log"
        command = ["jupyter", "lab", "notebooks/", "--no-browser", "--ServerApp.ip=127.0.0.1"]
        command += [f"--ServerApp.port={port}", f"--IdentityProvider.token={token}"]
        if os.geteuid() == 0:  # CI's containers run as root, which Jupyter refuses by default
            command.append("--allow-root")
        with log.open("w") as sink:
            server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=sink)
        try:
            auth = f"?token={token}"
            version = wait_for(
                "starting", lambda: call(f"{base}/api{auth}").get("version"), server, log
            )
            kernel = call(f"{base}/api/kernels{auth}", "POST", {"name": "python3"})
            connection = Path(scratch) / f"kernel-{kernel['id']}.json"
            ran = subprocess.run(
                [bin_dir / "python", "-c", IN_THE_KERNEL, str(connection)],
                env=env,
                capture_output=True,
                text=True,
                timeout=STARTUP_S,
                check=False,
            )
            call(f"{base}/api/kernels/{kernel['id']}{auth}", "DELETE")
        finally:
            server.terminate()
            server.wait(timeout=30)
    if ran.returncode or ran.stdout.strip() != backend:
        last = (ran.stderr.strip().splitlines() or [ran.stdout.strip()])[-1]
        last = re.sub(r"\x1b\[[0-9;]*m", "", last)  # the kernel's traceback comes in colour
        print(
            f"error: the kernel `jupyter lab` started does not run Keras on {backend}: {last}",
            file=sys.stderr,
        )
        return 1
    print(f"{venv}: `KERAS_BACKEND={backend} jupyter lab` started (Jupyter Server {version});")
    print(f"  in the kernel it started, Keras runs on {backend} and keras_convert imports.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    sys.exit(main(*sys.argv[1:]))
