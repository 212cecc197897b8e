"""The per-table transaction log's shared parts: who writes, what an entry holds, how it is packed.

Every committed write to a gateway table (not ``system``) appends one entry to the table's log in
the same atomic step as the write (the RocksDB WriteBatch, the PostgreSQL transaction), so a
write and its entry are stored together or not at all. Each backend keeps the entries its own
way behind the :class:`~gateway.storage.ports.TransactionLog` port; this module is what they share:

- :func:`writing_as` / :func:`current_origin`: the user and the operation a write is done for, set
  by whoever starts the work (the operations endpoint, a bulk job, a batch run, a push) in a context
  variable, so the storage ports keep their signatures;
- :class:`TxLogSettings`: whether entries are written at all and whether they keep the original
  records of updates and deletes (``logging.auditLog``);
- :func:`pack_entry` / :func:`unpack_entry`: an entry as bytes: a 4-byte length, a small JSON head
  (operation, user, source, optional records) and the written keys as their
  :func:`~gateway.storage.keys.encode_key` bytes one after another, so a bulk chunk's entry costs
  one ``join`` of keys already encoded, not a JSON list of them.
"""

from __future__ import annotations

import contextvars
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.storage import keys as K

SYSTEM_DATABASE = "system"
"""Writes to this database's tables (users, jobs, batches …) are not logged."""


@dataclass(frozen=True)
class WriteOrigin:
    """Who a write is done for: a user name and the operation (or work) that writes."""

    user: str | None = None
    operation: str | None = None


_NOBODY = WriteOrigin()
_ORIGIN: contextvars.ContextVar[WriteOrigin | None] = contextvars.ContextVar(
    "gateway_write_origin", default=None
)


class writing_as:  # noqa: N801 (used as a function: ``with writing_as(user, operation):``)
    """Writes in this block (in this thread or task) are logged as done by ``user`` for ``operation``."""

    __slots__ = ("_origin", "_token")

    def __init__(self, user: str | None, operation: str | None) -> None:
        self._origin = WriteOrigin(user, operation)

    def __enter__(self) -> None:
        self._token = _ORIGIN.set(self._origin)

    def __exit__(self, *exc: object) -> None:
        _ORIGIN.reset(self._token)


def current_origin() -> WriteOrigin:
    """The origin the current block's writes are logged with."""
    return _ORIGIN.get() or _NOBODY


@dataclass
class TxLogSettings:
    """How a backend logs writes (set from the configuration at start)."""

    enabled: bool = True
    """``logging.transaction_log``: write an entry for every committed write to a gateway table."""
    audit: bool = False
    """``logging.auditLog``: entries of updates and deletes also keep the records as they were."""

    def logs(self, database: str) -> bool:
        """Whether writes to ``database``'s tables are logged."""
        return self.enabled and database != SYSTEM_DATABASE


@dataclass
class LogEntry:
    """One logged write: when, what kind, by whom, which keys; records where they were kept."""

    timestamp: float
    """The store's clock at the write, epoch milliseconds."""
    operation: str
    """What the write did: ``insert``, ``update``, ``upsert`` or ``delete``."""
    user: str | None
    keys: list[Any]
    source: str | None = None
    """The operation or work that wrote (``csv_file_load``, ``sql``, ``batch``, ``push_data`` …)."""
    records: list[dict[str, Any]] | None = None
    """The records as sent (operations' writes; bulk loads and batch imports log keys only)."""
    originals: list[dict[str, Any]] | None = None
    """The stored records the write replaced or deleted (``logging.auditLog`` on)."""


_LENGTH = struct.Struct(">I")


def pack_entry(
    timestamp: float,
    operation: str,
    ekeys: bytes | Iterable[bytes],
    records: Sequence[dict[str, Any]] | None = None,
    originals: Sequence[dict[str, Any]] | None = None,
) -> bytes:
    """An entry of the current origin as bytes (``ekeys``: the keys' ``encode_key`` bytes)."""
    origin = current_origin()
    head: dict[str, Any] = {"t": timestamp, "o": operation, "u": origin.user, "s": origin.operation}
    if records is not None:
        head["r"] = records
    if originals:
        head["p"] = originals
    raw = orjson.dumps(head)
    keys = ekeys if isinstance(ekeys, bytes) else b"".join(ekeys)
    return _LENGTH.pack(len(raw)) + raw + keys


def unpack_entry(data: bytes) -> LogEntry:
    """The entry ``pack_entry`` made."""
    (length,) = _LENGTH.unpack_from(data)
    head = orjson.loads(data[4 : 4 + length])
    return LogEntry(
        timestamp=head["t"],
        operation=head["o"],
        user=head.get("u"),
        keys=decode_keys(data, 4 + length),
        source=head.get("s"),
        records=head.get("r"),
        originals=head.get("p"),
    )


def decode_keys(data: bytes, offset: int = 0) -> list[Any]:
    """The keys encoded one after another in ``data`` from ``offset`` on."""
    keys: list[Any] = []
    end = len(data)
    while offset < end:
        keys.append(K.decode_key(data, offset))
        offset += K.key_length(data, offset)
    return keys


def write_kind(mode: str) -> str:
    """The operation an entry names for a write mode (``replace`` stores whole records: an upsert)."""
    return "upsert" if mode == "replace" else mode


def write_entry(
    stamp: float,
    mode: str,
    records: Sequence[dict[str, Any]],
    keys: Sequence[Any],
    written: Sequence[Any],
    stored: Mapping[bytes, dict[str, Any] | None] | None,
    audit: bool,
) -> bytes | None:
    """The packed entry of one ``write`` (None: nothing was written).

    ``records``/``keys``: the write's records and their keys; ``written``: the keys written (in
    order); ``stored``: the records stored under the keys before the write, by encoded key
    (kept as the originals when ``audit``).
    """
    if not written:
        return None
    ekeys = [K.encode_key(key) for key in written]
    if len(written) == len(keys):
        kept = list(records)
    else:
        wanted = set(ekeys)
        kept = [record for record, key in zip(records, keys, strict=True) if K.encode_key(key) in wanted]
    originals = None
    if audit and stored is not None and mode != "insert":
        originals = [old for old in map(stored.get, ekeys) if old is not None]
    return pack_entry(stamp, write_kind(mode), ekeys, kept, originals)


def delete_entry(
    stamp: float, ekeys: Sequence[bytes], stored: Mapping[bytes, dict[str, Any] | None], audit: bool
) -> bytes | None:
    """The packed entry of a ``delete`` of ``ekeys`` (None: nothing was deleted)."""
    if not ekeys:
        return None
    originals = [old for old in map(stored.get, ekeys) if old is not None] if audit else None
    return pack_entry(stamp, "delete", ekeys, None, originals)


def import_entry(
    stamp: float, items: Mapping[bytes, Any], stored: Mapping[bytes, Any], audit: bool
) -> bytes | None:
    """The packed entry of a batch import's group for one table: its keys (``items``' encoded keys),
    and with ``audit`` the records it replaced (``stored``: by encoded key, as dicts or JSON bytes)."""
    if not items:
        return None
    originals = None
    if audit:
        originals = [orjson.loads(old) if isinstance(old, bytes) else old for old in stored.values() if old]
    return pack_entry(stamp, "upsert", items.keys(), None, originals)


def chunk_entry(stamp: float, mode: str, ekeys: Iterable[bytes]) -> bytes:
    """The packed entry of one bulk-load chunk: its keys only (one entry per chunk, not per record)."""
    return pack_entry(stamp, write_kind(mode), ekeys)
