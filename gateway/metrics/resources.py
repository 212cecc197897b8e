"""This process's resource usage: CPU times, resident memory, free space of the root's disk."""

from __future__ import annotations

import os
import resource
import shutil
from dataclasses import dataclass
from pathlib import Path

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Usage:
    """CPU seconds so far (user, system), memory in bytes, the root's disk in bytes."""

    user_cpu: float
    system_cpu: float
    rss: int
    max_rss: int
    disk_free: int
    disk_total: int


def _rss(max_rss: int) -> int:
    """Resident memory now (Linux: /proc/self/statm), else the peak."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
        return int(fields[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return max_rss


def read_usage(root: Path) -> Usage:
    """The usage now; the disk is the one holding ``root`` (0 when it cannot be read)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    max_rss = int(usage.ru_maxrss) * 1024  # Linux reports KiB
    try:
        disk = shutil.disk_usage(root)
        free, total = int(disk.free), int(disk.total)
    except OSError:
        free = total = 0
    return Usage(usage.ru_utime, usage.ru_stime, _rss(max_rss), max_rss, free, total)
