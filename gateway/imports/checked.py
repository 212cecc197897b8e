"""Files whose check pass succeeded, remembered so that a later run of the same bytes skips it.

The engine checks every batch file in full before the first record (spec §3, Ours) and
reports what a successful check found (``on_checked``: small hints, such as the JSON
array's cut offsets); a later run that hands them back (``BatchFile.checked``) reads the
file once instead of twice. They are kept under the file's SHA-256 digest (the blob's
name), a hash of the reader spec the control file gives that file (what the reader's
behaviour depends on) and the engine's ``HINTS_VERSION``, so only the same bytes read
the same way find them. The nightly dry run then real run of one batch (or of another
batch with the same files and control file) checks each file once.

They are kept in this process's memory, bounded (least recently used first out, by
entries and by the size of their JSON): correct and simple. A run on another worker of
a scale-out deployment, or after a restart, just checks again. Nothing here is needed
for correctness: the engine validates hints as it uses them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from engine import HINTS_VERSION, BatchFile
from engine.batch import reader_spec

MAX_BYTES: Final = 16 << 20
"""The most JSON of hints kept, all entries together."""


def check_key(digest: str, spec: Any) -> str | None:
    """The key of a file's check: its digest, its reader spec's hash and the hints version (None: no spec)."""
    if not digest or spec is None:
        return None
    try:
        canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return None
    spec_hash = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{digest}/{spec_hash}/{HINTS_VERSION}"


class CheckedFiles:
    """The hints of files checked in this process, by :func:`check_key` (thread-safe, bounded)."""

    def __init__(self, max_entries: int, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max(0, max_entries)
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str | None) -> object | None:
        """The hints kept under ``key``, or None."""
        if key is None:
            return None
        with self._lock:
            text = self._entries.get(key)
            if text is None:
                return None
            self._entries.move_to_end(key)
        hints: object = json.loads(text)
        return hints

    def put(self, key: str | None, hints: object) -> None:
        """Keep ``hints`` under ``key`` (dropping the least recently used past the bounds)."""
        if key is None or not self.max_entries:
            return
        text = json.dumps(hints, separators=(",", ":"))
        if len(text) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._entries[key] = text
            self._bytes += len(text)
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._entries)

    def batch_files(
        self, control: Mapping[str, Any], entries: Sequence[Mapping[str, Any]], files: Sequence[BatchFile]
    ) -> tuple[list[BatchFile], Callable[[BatchFile, object], None]]:
        """``files`` (one per batch row entry of ``entries``, in order) with the hints of an earlier
        check of the same bytes and spec, and the engine's ``on_checked`` that keeps new ones."""
        keys: dict[int, str] = {}
        out: list[BatchFile] = []
        for entry, file in zip(entries, files, strict=True):
            digest = str((entry.get("file") or {}).get("digest") or "")
            key = check_key(digest, reader_spec(control, file.name))
            hints = self.get(key)
            if hints is not None:
                file = replace(file, checked=hints)
            if key is not None:
                keys[id(file)] = key
            out.append(file)

        def on_checked(file: BatchFile, hints: object) -> None:
            self.put(keys.get(id(file)), hints)

        return out, on_checked
