"""The admin batch list: its query (state, dates, text, errors only, paging) and how a batch is shown.

``parse_query`` reads the page's query parameters (``QueryError`` names a bad one),
``select`` filters and pages the batches, and ``batch_row`` turns one batch into what
a table row shows. ``batch_status`` is the state badge's words and tone, shared with the
batch page. Counts come from ``counts_of``: the stored records done, or a batch's
``summary`` (read, committed, failed) when it has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from gateway.imports.service import STATES

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_TEXT = 200
LIST_PATH = "/admin/batches"
SUMMARY_COUNTS = (("read", "records_read"), ("committed", "records_committed"), ("failed", "records_failed"))
NOT_RUN = ("uploading", "ready", "scheduled")


class QueryError(ValueError):
    """A query parameter of the batch list is not usable; the message names it."""


@dataclass(frozen=True)
class BatchQuery:
    """What the batch list shows: filters (all optional) and the page."""

    state: str = ""
    since: date | None = None
    until: date | None = None
    text: str = ""
    errors_only: bool = False
    page: int = 1
    size: int = PAGE_SIZE

    @property
    def filtered(self) -> bool:
        """True when any filter is set."""
        return bool(self.state or self.since or self.until or self.text or self.errors_only)

    def params(self, page: int | None = None) -> dict[str, str]:
        """The query parameters that give this query (defaults left out), on another page if given."""
        chosen = {
            "state": self.state,
            "from": self.since.isoformat() if self.since else "",
            "to": self.until.isoformat() if self.until else "",
            "q": self.text,
            "errors": "1" if self.errors_only else "",
            "size": str(self.size) if self.size != PAGE_SIZE else "",
            "page": str(page if page is not None else self.page),
        }
        if chosen["page"] == "1":
            chosen["page"] = ""
        return {key: value for key, value in chosen.items() if value}

    def link(self, page: int | None = None) -> str:
        """The list's URL for this query (on ``page`` if given)."""
        params = self.params(page)
        return LIST_PATH + ("?" + urlencode(params) if params else "")


def _date(params: Mapping[str, str], name: str, label: str) -> date | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"The '{label}' date must be a date like 2026-01-31, not '{text}'.") from None


def _whole(params: Mapping[str, str], name: str, default: int, highest: int) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= highest:
        raise QueryError(f"'{name}' must be a whole number from 1 to {highest}, not '{text[:20]}'.")
    return int(text)


def parse_query(params: Mapping[str, str]) -> BatchQuery:
    """The batch list's query from ``state``, ``from``, ``to`` (YYYY-MM-DD, UTC), ``q``,
    ``errors=1``, ``page`` and ``size``; QueryError names the first bad parameter."""
    state = params.get("state", "").strip()
    if state and state not in STATES:
        raise QueryError(f"Unknown state '{state[:40]}': choose one of {', '.join(STATES)}.")
    since, until = _date(params, "from", "from"), _date(params, "to", "to")
    if since and until and since > until:
        raise QueryError(f"The 'from' date ({since}) is after the 'to' date ({until}).")
    text = params.get("q", "").strip()
    if len(text) > MAX_TEXT:
        raise QueryError(f"The search text is longer than {MAX_TEXT} characters.")
    errors = params.get("errors", "").strip()
    if errors not in ("", "0", "1", "on"):
        raise QueryError(f"'errors' must be 1 (only batches with errors) or left out, not '{errors[:20]}'.")
    return BatchQuery(
        state=state,
        since=since,
        until=until,
        text=text,
        errors_only=errors in ("1", "on"),
        page=_whole(params, "page", 1, 1_000_000),
        size=_whole(params, "size", PAGE_SIZE, MAX_PAGE_SIZE),
    )


def error_count(batch: Mapping[str, Any]) -> int:
    """The batch's errors so far (live while it runs)."""
    progress = batch.get("progress") or {}
    stored = batch.get("errors")
    value = progress.get("errors") if batch.get("state") == "running" else stored
    return int(value or 0)


def _searchable(batch: Mapping[str, Any], control: Mapping[str, Any] | None) -> str:
    """The texts the search box looks in: identifier, comment, control file and file names."""
    parts = [batch.get("identifier"), batch.get("comment"), batch.get("control")]
    if control is not None:
        parts.append(control.get("comment"))
    for entry in batch.get("files") or []:
        parts.extend((entry.get("name"), (entry.get("file") or {}).get("filename")))
    return "\n".join(str(p) for p in parts if p).casefold()


def matches(batch: Mapping[str, Any], query: BatchQuery, control: Mapping[str, Any] | None) -> bool:
    """True when the batch passes every filter of the query (its control file row given)."""
    created_day = str(batch.get("created") or "")[:10]
    return not (
        (query.state and batch.get("state") != query.state)
        or (query.since and created_day < query.since.isoformat())
        or (query.until and created_day > query.until.isoformat())
        or (query.errors_only and error_count(batch) == 0)
        or (query.text and query.text.casefold() not in _searchable(batch, control))
    )


@dataclass(frozen=True)
class Selection:
    """One page of the matching batches."""

    batches: list[dict[str, Any]]
    total: int
    pages: int
    query: BatchQuery


def select(
    batches: Sequence[dict[str, Any]], query: BatchQuery, controls: Mapping[str, Mapping[str, Any]]
) -> Selection:
    """The batches (newest first) that match the query, cut to its page (controls by id)."""
    found = [b for b in batches if matches(b, query, controls.get(str(b.get("control_id"))))]
    pages = max(1, -(-len(found) // query.size))
    start = (query.page - 1) * query.size
    return Selection(found[start : start + query.size], len(found), pages, query)


@dataclass(frozen=True)
class BatchStatus:
    """The state badge: the state, words added to it and a tone (the colour; never the only sign)."""

    state: str
    note: str
    tone: str
    icon: str


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def batch_status(batch: Mapping[str, Any]) -> BatchStatus:
    """The badge of a batch: ``complete`` with errors is not shown like a clean ``complete``."""
    state = str(batch.get("state") or "")
    errors = error_count(batch)
    note = f"with {_plural(errors, 'error')}" if errors and state in ("complete", "dry-run") else ""
    if state == "error":
        return BatchStatus(state, "", "bad", "✕")
    if note:
        return BatchStatus(state, note, "warn", "⚠")
    if state == "complete":
        return BatchStatus(state, "", "good", "✓")
    if state == "dry-run":
        return BatchStatus(state, "", "info", "✓")
    if state in ("scheduled", "running"):
        return BatchStatus(state, "", "active", "…")
    return BatchStatus(state, "", "plain", "•")


def _parse_time(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _log_times(log: str) -> tuple[datetime | None, datetime | None]:
    """The times of the log's ``START:`` line and its last ``END:`` line."""
    first = log.split("\n", 1)[0]
    start = _parse_time(first[6:]) if first.startswith("START:") else None
    at = log.rfind("END: ")
    end = None
    if at == 0 or (at > 0 and log[at - 1] == "\n"):
        end = _parse_time(log[at + 5 :].split("\n", 1)[0])
    return start, end


def format_duration(seconds: float) -> str:
    """``under 0.1 s``, ``0.4 s``, ``42 s``, ``3 min 05 s``, ``2 h 03 min``."""
    seconds = max(0.0, seconds)
    if seconds < 0.1:
        return "under 0.1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def duration_of(batch: Mapping[str, Any], now: datetime | None = None) -> str:
    """How long the run took (``… so far`` while running); '' if it has not run."""
    summary = batch.get("summary") or {}
    seconds = summary.get("duration_seconds") if isinstance(summary, Mapping) else None
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return format_duration(float(seconds))
    start, end = _log_times(str(batch.get("log") or ""))
    if start is None:
        return ""
    if end is not None:
        return format_duration((end - start).total_seconds())
    if batch.get("state") == "running":
        return format_duration(((now or datetime.now(UTC)) - start).total_seconds()) + " so far"
    return ""


def counts_of(batch: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The record counts a row shows as (word, number): the summary's read/committed/failed when
    the batch has a summary, else the records done; none before it runs."""
    summary = batch.get("summary")
    if isinstance(summary, Mapping):
        found = [(word, summary[key]) for word, key in SUMMARY_COUNTS if isinstance(summary.get(key), int)]
        if found:
            return found
    if batch.get("state") in NOT_RUN:
        return []
    return [("done", int((batch.get("progress") or {}).get("records_done") or 0))]


@dataclass(frozen=True)
class BatchRow:
    """What the list shows of one batch."""

    identifier: str
    comment: str
    status: BatchStatus
    errors: int | None
    counts: list[tuple[str, int]]
    duration: str
    created: Any
    files: list[str]
    control: str


def batch_row(batch: Mapping[str, Any], control: Mapping[str, Any] | None) -> BatchRow:
    """One batch as a row of the list (its control file row given, if it still exists)."""
    return BatchRow(
        identifier=str(batch.get("identifier") or ""),
        comment=str(batch.get("comment") or ""),
        status=batch_status(batch),
        errors=None if batch.get("state") in NOT_RUN else error_count(batch),
        counts=counts_of(batch),
        duration=duration_of(batch),
        created=batch.get("created"),
        files=[str(f.get("name")) for f in batch.get("files") or []],
        control=str((control or {}).get("comment") or ""),
    )


def quick_views(today: date) -> list[tuple[str, str]]:
    """Links to common views of the list: (label, URL)."""
    return [
        ("Created today", BatchQuery(since=today, until=today).link()),
        ("Running", BatchQuery(state="running").link()),
        ("With errors", BatchQuery(errors_only=True).link()),
        ("Failed (state error)", BatchQuery(state="error").link()),
        ("Dry runs", BatchQuery(state="dry-run").link()),
    ]
