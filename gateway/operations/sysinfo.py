"""Facts about the host and process for system_information (from /proc and os; Linux first).

Each section is a function returning a JSON object shaped like HarperDB's
(systeminformation-style keys); a value that cannot be read is null rather than
an error.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.process import Gateway


def _read(path: str) -> str:
    try:
        return Path(path).read_text("utf-8", errors="replace")
    except OSError:
        return ""


def _cpuinfo() -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in _read("/proc/cpuinfo").splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _, value = line.partition(":")
        current[key.strip()] = value.strip()
    if current:
        blocks.append(current)
    return blocks


def _cpu_times() -> list[list[int]]:
    """Jiffies per line of /proc/stat: the total first, then one per cpu."""
    out = []
    for line in _read("/proc/stat").splitlines():
        if line.startswith("cpu"):
            out.append([int(v) for v in line.split()[1:]])
    return out


def _load(times: list[int], prefix: str = "") -> dict[str, Any]:
    names = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest"]
    values = dict(zip(names, times + [0] * (len(names) - len(times)), strict=False))
    total = sum(times[:8]) or 1
    busy = total - values["idle"] - values["iowait"]

    def pct(v: float) -> float:
        return 100.0 * v / total

    key = "load" if not prefix else "currentLoad"
    return {
        key: pct(busy),
        f"{key}User": pct(values["user"]),
        f"{key}System": pct(values["system"]),
        f"{key}Nice": pct(values["nice"]),
        f"{key}Idle": pct(values["idle"]),
        f"{key}Irq": pct(values["irq"] + values["softirq"]),
        f"{key}Steal": pct(values["steal"]),
        f"{key}Guest": pct(values["guest"]),
    }


_VENDORS = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel"}


def cpu_section() -> dict[str, Any]:
    blocks = _cpuinfo()
    first = blocks[0] if blocks else {}
    vendor_id = first.get("vendor_id", platform.processor() or "")
    vendor = _VENDORS.get(vendor_id, vendor_id or None)
    speeds = [float(b["cpu MHz"]) / 1000.0 for b in blocks if "cpu MHz" in b]
    cores = os.cpu_count() or len(blocks) or 1
    physical = {(b.get("physical id"), b.get("core id")) for b in blocks if "core id" in b}
    times = _cpu_times()
    current = _load(times[0], "current") if times else {}
    try:
        avg_load = os.getloadavg()[0]
    except OSError:
        avg_load = None
    return {
        "manufacturer": vendor,
        "brand": first.get("model name"),
        "vendor": vendor,
        "speed": round(sum(speeds) / len(speeds), 2) if speeds else 0,
        "speedMin": round(min(speeds), 2) if speeds else None,
        "speedMax": round(max(speeds), 2) if speeds else None,
        "cores": cores,
        "physicalCores": len(physical) or cores,
        "performanceCores": len(physical) or cores,
        "efficiencyCores": 0,
        "processors": len({b.get("physical id") for b in blocks}) or 1,
        "flags": first.get("flags", ""),
        "virtualization": "hypervisor" in first.get("flags", "").split(),
        "cpu_speed": {
            "min": round(min(speeds), 2) if speeds else 0,
            "max": round(max(speeds), 2) if speeds else 0,
            "avg": round(sum(speeds) / len(speeds), 2) if speeds else 0,
            "cores": [round(s, 2) for s in speeds],
        },
        "current_load": {"avgLoad": avg_load, **current, "cpus": [_load(t) for t in times[1:]]},
    }


def _meminfo() -> dict[str, int]:
    out = {}
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[key] = int(parts[0]) * (1024 if len(parts) > 1 and parts[1] == "kB" else 1)
    return out


def memory_section() -> dict[str, Any]:
    info = _meminfo()
    total, free = info.get("MemTotal", 0), info.get("MemFree", 0)
    available = info.get("MemAvailable", free)
    swap_total, swap_free = info.get("SwapTotal", 0), info.get("SwapFree", 0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rss = 0
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
    return {
        "total": total,
        "free": free,
        "used": total - free,
        "active": total - available,
        "available": available,
        "buffers": info.get("Buffers", 0),
        "cached": info.get("Cached", 0),
        "swaptotal": swap_total,
        "swapused": swap_total - swap_free,
        "swapfree": swap_free,
        "rss": rss,
        "peakRss": peak,
    }


def system_section() -> dict[str, Any]:
    os_release = {}
    for line in _read("/etc/os-release").splitlines():
        key, _, value = line.partition("=")
        os_release[key] = value.strip('"')
    return {
        "platform": sys.platform,
        "distro": os_release.get("NAME"),
        "release": os_release.get("VERSION_ID"),
        "codename": os_release.get("VERSION_CODENAME"),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "hostname": socket.gethostname(),
        "python_version": platform.python_version(),
    }


def time_section(gateway: Gateway) -> dict[str, Any]:
    uptime = _read("/proc/uptime").split()
    return {
        "current": int(time.time() * 1000),
        "uptime": float(uptime[0]) if uptime else None,
        "process_uptime": time.time() - gateway.started,
        "timezone": time.strftime("%z"),
        "timezoneName": time.tzname[0],
    }


def disk_section(gateway: Gateway) -> dict[str, Any]:
    usage = shutil.disk_usage(gateway.config.root)
    io_read = io_write = 0
    for line in _read("/proc/self/io").splitlines():
        key, _, value = line.partition(":")
        if key == "read_bytes":
            io_read = int(value)
        elif key == "write_bytes":
            io_write = int(value)
    return {
        "io": {"rBytes": io_read, "wBytes": io_write, "tBytes": io_read + io_write},
        "size": [
            {
                "fs": str(gateway.config.root),
                "size": usage.total,
                "used": usage.used,
                "available": usage.free,
                "use": round(100.0 * usage.used / usage.total, 2) if usage.total else 0,
                "mount": str(gateway.config.root),
            }
        ],
    }


def network_section() -> dict[str, Any]:
    interfaces = []
    for line in _read("/proc/net/dev").splitlines()[2:]:
        name, _, rest = line.partition(":")
        values = rest.split()
        if len(values) >= 9:
            interfaces.append({"iface": name.strip(), "rx_bytes": int(values[0]), "tx_bytes": int(values[8])})
    return {"interfaces": interfaces}


def process_section(gateway: Gateway) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "core": [
            {
                "pid": os.getpid(),
                "name": "gateway",
                "cpu_user_seconds": usage.ru_utime,
                "cpu_system_seconds": usage.ru_stime,
                "peak_rss": usage.ru_maxrss * 1024,
                "threads": len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else None,
            }
        ]
    }


def table_size_section(gateway: Gateway) -> list[dict[str, Any]]:
    storage = gateway.storage
    out = []
    for database in storage.catalog.list_databases():
        for info in storage.catalog.list_tables(database):
            out.append(
                {
                    "schema": database,
                    "table": info.name,
                    "table_size": storage.catalog.size_bytes(database, info.name),
                    "record_count": storage.catalog.count(database, info.name),
                }
            )
    return out


SECTIONS: dict[str, Callable[[Gateway], Any]] = {
    "system": lambda gw: system_section(),
    "time": time_section,
    "cpu": lambda gw: cpu_section(),
    "memory": lambda gw: memory_section(),
    "disk": disk_section,
    "network": lambda gw: network_section(),
    "harperdb_processes": process_section,
    "table_size": table_size_section,
}
