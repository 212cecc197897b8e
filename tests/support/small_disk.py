"""A small tmpfs that tests fill up: the gateway's root on a device that runs out of space.

``small_disk(directory, size)`` mounts a tmpfs of ``size`` bytes on ``directory/disk``
and unmounts it afterwards. Mounting needs root (or CAP_SYS_ADMIN); where ``mount`` is
refused the test is skipped with the reason. That is the one machine-dependent skip
allowed even under ``CI=true``: a full disk cannot be had without a device of its own,
and filling the machine's real disk is not an option.

:meth:`SmallDisk.fill` writes a filler file until at most ``leave`` bytes are free;
:meth:`SmallDisk.unfill` deletes it (the space returns at once on a tmpfs).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from gateway.logs import JsonLinesHandler

MiB = 1024 * 1024
BLOCK = MiB
T = TypeVar("T")


class SmallDisk:
    """A mounted tmpfs: its mount point, a ``root`` directory on it, and a filler file."""

    def __init__(self, mountpoint: Path, size: int) -> None:
        self.mountpoint = mountpoint
        self.size = size
        self.root = mountpoint / "root"
        self.filler = mountpoint / "filler"

    def free(self) -> int:
        """Bytes free for an unprivileged writer."""
        st = os.statvfs(self.mountpoint)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        """Grow the filler file until at most ``leave`` bytes are free (0: the device is full)."""
        with self.filler.open("ab", buffering=0) as fh:
            for _ in range(self.size // BLOCK + 2):
                room = self.free() - leave
                if room <= 0:
                    break
                try:
                    fh.write(b"\0" * min(room, BLOCK))
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        assert self.free() <= max(leave, 0) + 4096, f"{self.free()} bytes still free"

    def unfill(self) -> None:
        """Delete the filler file: its space is free again."""
        self.filler.unlink(missing_ok=True)


def _detach_log_handlers(under: Path) -> None:
    """Remove the gateway's log handlers writing below ``under`` (an in-process app attached them)."""
    logger = logging.getLogger("gateway")
    for handler in list(logger.handlers):
        if isinstance(handler, JsonLinesHandler) and under in handler.path.parents:
            logger.removeHandler(handler)
            handler.close()


@contextlib.contextmanager
def small_disk(directory: Path, size: int) -> Iterator[SmallDisk]:
    """A tmpfs of ``size`` bytes mounted on ``directory/disk`` (the test is skipped if mounting fails)."""
    mountpoint = directory / "disk"
    mountpoint.mkdir(parents=True, exist_ok=True)
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mountpoint)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError as exc:  # no mount command
        pytest.skip(f"full-disk tests need a tmpfs of their own and cannot mount one: {exc}")
    if mounted.returncode != 0:
        reason = ((mounted.stderr or mounted.stdout).strip().splitlines() or ["no reason given"])[0]
        pytest.skip(
            "full-disk tests need a tmpfs of their own (root, or CAP_SYS_ADMIN, to mount one): "
            f"mount -t tmpfs failed: {reason}"
        )
    try:
        yield SmallDisk(mountpoint, size)
    finally:
        _detach_log_handlers(mountpoint)
        unmounted = subprocess.run(["umount", str(mountpoint)], capture_output=True, text=True, check=False)
        if unmounted.returncode != 0:  # still busy (a server that did not stop): detach it anyway
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)


def eventually(check: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll ``check`` until it returns something (RocksDB's own recovery is a 5-second poll)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.1)
