#!/usr/bin/env python3
"""Upload a large file through a real ``gateway serve`` and measure the server's memory.

Starts a server on a temporary root, creates an API key and a batch, streams a
file of ``--size`` MB to ``/api/haplo-data-import-batch/file`` from a generator
(the client never holds the file), and samples the server process's VmRSS from
/proc every 50 ms. Prints the server's RSS before, the peak sampled during the
upload, the growth, VmHWM, throughput, and a baseline: the same bytes hashed
with SHA-256 in this process (the server must hash and write them too).

    python bench/upload.py              # 500 MB (the target: RSS growth < 60 MB)
    python bench/upload.py --size 50
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BLOCK = 1024 * 1024
ADMIN = ("admin", "bench-password")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_kb(pid: int, field: str) -> int:
    """A ``Vm*`` field of /proc/<pid>/status in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def block(index: int) -> bytes:
    """Deterministic, incompressible-looking 1 MiB block number ``index``."""
    seed = hashlib.sha256(index.to_bytes(8, "big")).digest()
    return (seed * (BLOCK // len(seed) + 1))[:BLOCK]


def operation(url: str, body: dict) -> dict:
    token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    request = urllib.request.Request(
        url + "/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Basic " + token},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def form_post(host: str, port: int, path: str, key: str, fields: dict[str, str]) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    body = "&".join(f"{k}={v}" for k, v in fields.items())
    auth = base64.b64encode(f"haplo:{key}".encode()).decode()
    conn.request(
        "POST",
        path,
        body,
        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic " + auth},
    )
    response = conn.getresponse()
    text = response.read().decode()
    assert response.status == 200, (response.status, text)
    return text


def stream_upload(host: str, port: int, key: str, batch: str, blocks: int) -> tuple[int, str, str]:
    """POST a multipart body of ``blocks`` MiB; (status, body, client-side SHA-256)."""
    boundary = "benchboundary7d3f"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="batch"\r\n\r\n{batch}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nbig\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection(host, port, timeout=600)
    conn.putrequest("POST", "/api/haplo-data-import-batch/file")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head) + blocks * BLOCK + len(tail)))
    conn.putheader("Authorization", "Basic " + base64.b64encode(f"haplo:{key}".encode()).decode())
    conn.endheaders()
    digest = hashlib.sha256()
    conn.send(head)
    for index in range(blocks):
        data = block(index)
        digest.update(data)
        conn.send(data)
    conn.send(tail)
    response = conn.getresponse()
    return response.status, response.read().decode(), digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=500, help="upload size in MiB (default 500)")
    parser.add_argument("--limit-mb", type=float, default=60.0, help="allowed server RSS growth (default 60)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-upload-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_ADMIN_USERNAME=ADMIN[0], GATEWAY_ADMIN_PASSWORD=ADMIN[1])
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--root", str(workdir / "root"), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("server did not start; see", workdir / "server.log")
                    return 1
                time.sleep(0.1)
        key = operation(url, {"operation": "create_api_key", "name": "bench"})["key"]
        control = {"dataImportControlFileVersion": 0, "model": "bench:m", "files": {}, "instructions": []}
        operation(
            url,
            {
                "operation": "add_import_model",
                "model": {"name": "bench:m", "destinations": [{"name": "d", "kind": "object", "names": {}}]},
            },
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        boundary = "cb"
        payload = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="c.json"\r\n\r\n'
            f"{json.dumps(control)}\r\n--{boundary}--\r\n"
        )
        auth = "Basic " + base64.b64encode(f"haplo:{key}".encode()).decode()
        conn.request(
            "POST",
            "/api/haplo-data-import-batch/control",
            payload,
            {"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": auth},
        )
        digest = conn.getresponse().read().decode()
        batch = form_post("127.0.0.1", port, "/api/haplo-data-import-batch/batch", key, {"control": digest})

        time.sleep(0.5)
        before = proc_kb(server.pid, "VmRSS")
        hwm_before = proc_kb(server.pid, "VmHWM")
        peak = [before]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], proc_kb(server.pid, "VmRSS"))
                except (OSError, KeyError):
                    return
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        status, body, client_digest = stream_upload("127.0.0.1", port, key, batch, args.size)
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        after = proc_kb(server.pid, "VmRSS")
        hwm_after = proc_kb(server.pid, "VmHWM")

        started = time.perf_counter()
        local = hashlib.sha256()
        for index in range(args.size):
            local.update(block(index))
        baseline = time.perf_counter() - started

        growth_mb = (peak[0] - before) / 1024
        print(f"upload size           : {args.size} MiB")
        print(f"status / digest ok    : {status} / {body == client_digest}")
        print(f"server VmRSS before   : {before / 1024:.1f} MB")
        print(f"server VmRSS peak     : {peak[0] / 1024:.1f} MB (sampled every 50 ms)")
        print(f"server VmRSS after    : {after / 1024:.1f} MB")
        print(f"server VmHWM          : {hwm_before / 1024:.1f} MB before, {hwm_after / 1024:.1f} MB after")
        print(f"RSS growth (peak)     : {growth_mb:.1f} MB (limit {args.limit_mb:.0f} MB)")
        print(f"upload time           : {elapsed:.2f} s = {args.size / elapsed:.1f} MiB/s")
        print(
            f"baseline (client-side generate+SHA-256 only): {baseline:.2f} s = {args.size / baseline:.1f} MiB/s"
        )
        print(f"ratio upload/baseline : {elapsed / baseline:.2f}x")
        ok = status == 200 and body == client_digest and growth_mb < args.limit_mb
        print("RESULT                : " + ("PASS" if ok else "FAIL"))
        return 0 if ok else 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
