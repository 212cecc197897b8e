#!/usr/bin/env python3
"""Upload a large file through a real ``gateway serve`` and measure the server's memory.

Starts a server on a temporary root, creates an API key and a batch, streams a
file of ``--size`` MB to ``/api/haplo-data-import-batch/file`` from a generator
(the client never holds the file), and samples the server process's VmRSS from
/proc every 50 ms. Prints the server's RSS before, the peak sampled during the
upload, the growth, VmHWM, throughput, and a baseline: the same bytes hashed
with SHA-256 in this process (the server must hash and write them too).

``--blobs`` chooses where the server keeps the file: ``fs`` (``<root>/blobs``), ``s3``
(moto's S3 server, started as a process of its own on loopback; the upload is spooled,
then sent as a multipart upload) or ``both`` (the default, one after the other). After
the upload the file is read back twice through the same blob store, as a batch run
reads a large file, and the read rate is printed too.

    python bench/upload.py                      # 500 MB, fs then s3 (the target: RSS growth < 60 MB)
    python bench/upload.py --size 50 --blobs s3
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
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BLOCK = 1024 * 1024
S3_BUCKET = "bench-files"
S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
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


def wait_for(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"{what} did not start") from None
            time.sleep(0.1)


def start_moto(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server in a process of its own, with the bench's bucket."""
    port = free_port()
    log = (workdir / "moto.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/moto-api/", process, "moto's S3 server")
    request = urllib.request.Request(f"{url}/{S3_BUCKET}", method="PUT")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return process, url


def blob_env(blobs: str, moto_url: str | None) -> dict[str, str]:
    if blobs == "fs":
        return {"GATEWAY_BLOBS_BACKEND": "fs"}
    assert moto_url is not None
    return {
        "GATEWAY_BLOBS_BACKEND": "s3",
        "GATEWAY_BLOBS_S3_BUCKET": S3_BUCKET,
        "GATEWAY_BLOBS_S3_PREFIX": "bench/",
        "GATEWAY_BLOBS_S3_ENDPOINT_URL": moto_url,
        "GATEWAY_BLOBS_S3_REGION": "us-east-1",
        **S3_ENV,
    }


def read_back(root: Path, env: dict[str, str], digest: str) -> tuple[float, int]:
    """Read the stored file twice through the blob store, as a batch run does: (seconds, bytes)."""
    sys.path.insert(0, str(ROOT))
    from gateway.config import load_config
    from gateway.storage.backends import open_blobs

    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        blobs = open_blobs(load_config(root=root))
        started, read = time.perf_counter(), 0
        for _ in range(2):
            with blobs.open(digest) as reader:
                while piece := reader.read(256 * 1024):
                    read += len(piece)
        elapsed = time.perf_counter() - started
        blobs.close()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return elapsed, read


def bench(blobs: str, size: int, workdir: Path, moto_url: str | None) -> dict[str, Any]:
    """One server on ``blobs``: upload ``size`` MiB, sample its RSS, read the file back."""
    port = free_port()
    root = workdir / f"root-{blobs}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_ADMIN_USERNAME=ADMIN[0], GATEWAY_ADMIN_PASSWORD=ADMIN[1], **blob_env(blobs, moto_url))
    log = (workdir / f"server-{blobs}.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--root", str(root), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/health", server, f"the server (see {workdir / f'server-{blobs}.log'})")
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
        status, body, client_digest = stream_upload("127.0.0.1", port, key, batch, size)
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        after = proc_kb(server.pid, "VmRSS")
        hwm_after = proc_kb(server.pid, "VmHWM")
        spool = list((root / "blobs" / "tmp").glob("*"))
        read_seconds, read_bytes = read_back(root, blob_env(blobs, moto_url), client_digest)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    return {
        "status": status,
        "digest_ok": body == client_digest,
        "before": before,
        "peak": peak[0],
        "after": after,
        "hwm_before": hwm_before,
        "hwm_after": hwm_after,
        "elapsed": elapsed,
        "spool_left": len(spool),
        "read_seconds": read_seconds,
        "read_ok": read_bytes == 2 * size * BLOCK,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=500, help="upload size in MiB (default 500)")
    parser.add_argument("--limit-mb", type=float, default=60.0, help="allowed server RSS growth (default 60)")
    parser.add_argument(
        "--blobs", choices=("fs", "s3", "both"), default="both", help="blob store (default both)"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-upload-"))
    backends = ("fs", "s3") if args.blobs == "both" else (args.blobs,)
    moto: subprocess.Popen[bytes] | None = None
    try:
        moto_url = None
        if "s3" in backends:
            moto, moto_url = start_moto(workdir)
        started = time.perf_counter()
        local = hashlib.sha256()
        for index in range(args.size):
            local.update(block(index))
        baseline = time.perf_counter() - started
        print(f"upload size           : {args.size} MiB")
        print(
            f"baseline (client-side generate+SHA-256 only): {baseline:.2f} s = {args.size / baseline:.1f} MiB/s"
        )
        ok = True
        for blobs in backends:
            r = bench(blobs, args.size, workdir, moto_url)
            growth_mb = (r["peak"] - r["before"]) / 1024
            print(f"--- blobs.backend: {blobs}")
            print(f"status / digest ok    : {r['status']} / {r['digest_ok']}")
            print(f"server VmRSS before   : {r['before'] / 1024:.1f} MB")
            print(f"server VmRSS peak     : {r['peak'] / 1024:.1f} MB (sampled every 50 ms)")
            print(f"server VmRSS after    : {r['after'] / 1024:.1f} MB")
            print(
                f"server VmHWM          : {r['hwm_before'] / 1024:.1f} MB before, {r['hwm_after'] / 1024:.1f} MB after"
            )
            print(f"RSS growth (peak)     : {growth_mb:.1f} MB (limit {args.limit_mb:.0f} MB)")
            print(f"upload time           : {r['elapsed']:.2f} s = {args.size / r['elapsed']:.1f} MiB/s")
            print(f"ratio upload/baseline : {r['elapsed'] / baseline:.2f}x")
            print(f"spooled files left    : {r['spool_left']}")
            print(
                f"read back twice       : {r['read_seconds']:.2f} s = {2 * args.size / r['read_seconds']:.1f} MiB/s"
                f" ({'ok' if r['read_ok'] else 'WRONG SIZE'})"
            )
            passed = (
                r["status"] == 200
                and r["digest_ok"]
                and r["read_ok"]
                and r["spool_left"] == 0
                and growth_mb < args.limit_mb
            )
            print("RESULT                : " + ("PASS" if passed else "FAIL"))
            ok = ok and passed
        return 0 if ok else 1
    finally:
        if moto is not None:
            moto.terminate()
            try:
                moto.wait(timeout=30)
            except subprocess.TimeoutExpired:
                moto.kill()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
