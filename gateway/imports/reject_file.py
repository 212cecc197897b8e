"""Which reject file a request gets: the batch, the file among its files, the answer's name and type.

A batch's reject file is for one of its files (``file=<name>``); without a name the
one file with failed records is chosen, and a batch with failed records in several
files is refused naming them. Refusals are :class:`~gateway.imports.rejects.RejectsUnavailable`
with the text the client sees (a 400).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine import BatchFile
from gateway.imports.errorlog import failed_files
from gateway.imports.rejects import EXTENSIONS, MEDIA_TYPES, RejectsUnavailable, file_spec, reject_chunks
from gateway.imports.service import END_STATES, BatchService, parse_control_bytes
from gateway.storage.errors import BlobNotFound
from gateway.storage.ports import BatchErrorLog


@dataclass(frozen=True)
class RejectFile:
    """A reject file ready to stream."""

    filename: str
    media_type: str
    chunks: Iterator[bytes]


def files_with_rejects(summary: dict[str, Any] | None) -> dict[str, dict[str, int]]:
    """``{file name: {"records": failed records, "errors": errors}}`` of a batch's error summary."""
    if summary is None or summary.get("record_processor"):
        return {}
    files = summary.get("files")
    return dict(files) if isinstance(files, dict) else {}


def _choose(identifier: str, failed: dict[str, Any], name: str | None, batch_files: list[str]) -> str:
    if name:
        if name not in batch_files:
            raise RejectsUnavailable(f"Batch {identifier} has no file named {name}")
        if name not in failed:
            raise RejectsUnavailable(f"File {name} of batch {identifier} has no failed records")
        return name
    if not failed:
        raise RejectsUnavailable(f"Batch {identifier} has no failed records")
    if len(failed) > 1:
        names = ", ".join(sorted(failed))
        raise RejectsUnavailable(
            f"Batch {identifier} has failed records in several files ({names}): choose one with file=<name>"
        )
    return next(iter(failed))


def open_reject_file(
    service: BatchService, errors: BatchErrorLog, identifier: str, name: str | None
) -> RejectFile:
    """The reject file of batch ``identifier`` for file ``name`` (None: the one with failed records)."""
    batch = service.get(identifier)
    if batch is None:
        raise RejectsUnavailable(f"Batch not found: {identifier}")
    if batch.get("state") not in END_STATES:
        raise RejectsUnavailable(
            f"Batch {identifier} has not run to an end yet (state: {batch.get('state')})"
        )
    summary = errors.summary(identifier)
    if summary is None:  # a run cut short (a crash) kept its errors so far, but no summary
        summary = {"files": failed_files(errors.entries(identifier))}
    if summary.get("record_processor"):
        raise RejectsUnavailable(
            f"Batch {identifier} has no reject file: its control file's record processor rewrites the records"
        )
    entries = {str(f.get("name")): f.get("file") or {} for f in batch.get("files") or []}
    chosen = _choose(identifier, files_with_rejects(summary), name, list(entries))
    stored = entries[chosen]
    digest = str(stored.get("digest"))
    try:
        control = parse_control_bytes(service.control_bytes(str(batch.get("control"))))
    except (BlobNotFound, UnicodeDecodeError, ValueError):
        raise RejectsUnavailable(f"The control file of batch {identifier} cannot be read") from None
    spec = file_spec(control if isinstance(control, dict) else {}, chosen)
    if not service.blobs.exists(digest):
        raise RejectsUnavailable(f"The stored file {chosen} of batch {identifier} is missing")
    file = BatchFile(chosen, lambda: service.blobs.open(digest), int(stored.get("fileSize") or 0))
    extension = EXTENSIONS[str(spec["read"])]
    media_type = MEDIA_TYPES[extension]
    if extension in ("tsv", "csv"):
        charset = spec.get("charset")
        media_type += f"; charset={charset or 'utf-8'}"
    elif extension != "xml":
        media_type += "; charset=utf-8"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in chosen)
    filename = f"rejects-{identifier[:10]}-{safe}.{extension}"
    return RejectFile(filename, media_type, reject_chunks(errors.entries(identifier), file, spec))
