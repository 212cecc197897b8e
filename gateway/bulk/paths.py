"""Confinement of csv_file_load and export_local paths to the configured directories.

A path is resolved with every symlink and ``..`` followed (``os.path.realpath``)
and must then lie inside one of the allowed directories (themselves resolved).
Files are opened through the resolved path without following a final symlink,
so a link swapped in after the check is refused too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO


class PathRefused(Exception):
    """The path is not usable (outside the allowed directories, missing, not a file)."""


def _inside(path: str, allowed: Sequence[Path]) -> bool:
    for base in allowed:
        root = os.path.realpath(base)
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


def confine(raw: str, allowed: Sequence[Path], field: str, kind: str) -> Path:
    """The resolved form of ``raw`` if it lies inside ``allowed``; PathRefused otherwise."""
    if "\x00" in raw:
        raise PathRefused(f"{field} '{raw}' is not a valid path")
    resolved = os.path.realpath(raw)
    if not _inside(resolved, allowed):
        raise PathRefused(f"{field} '{raw}' is outside the allowed {kind} directories")
    return Path(resolved)


def import_file(raw: str, allowed: Sequence[Path]) -> Path:
    """A readable regular file for csv_file_load, with HarperDB's messages."""
    if not os.path.isabs(raw):
        raise PathRefused(f"No such file or directory {raw}")  # relative paths are not resolved
    resolved = confine(raw, allowed, "file_path", "import")
    try:
        info = resolved.stat()
    except FileNotFoundError as exc:
        raise PathRefused(f"No such file or directory {raw}") from exc
    except PermissionError as exc:
        raise PathRefused(f"Permission denied {raw}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise PathRefused(f"file_path '{raw}' is not a regular file")
    if not os.access(resolved, os.R_OK):
        raise PathRefused(f"Permission denied {raw}")
    return resolved


def open_confined(path: Path, allowed: Sequence[Path]) -> BinaryIO:
    """Open a path checked by ``import_file`` for reading, refusing a symlink swapped in since."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise PathRefused(f"cannot open {path}: {exc.strerror}") from exc
    handle = os.fdopen(fd, "rb", buffering=0)
    real = os.path.realpath(path)
    if not _inside(real, allowed) or not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise PathRefused(f"file_path '{path}' changed after it was checked")
    return handle


def export_directory(raw: str, allowed: Sequence[Path]) -> Path:
    """The resolved export directory (it may not exist yet: the job reports that)."""
    if not os.path.isabs(raw):
        raise PathRefused(f"path '{raw}' is outside the allowed export directories")
    return confine(raw, allowed, "path", "export")


def safe_filename(name: str) -> bool:
    """Whether an export ``filename`` is a plain file name (no directory part)."""
    return (
        bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\x00" not in name
    )
