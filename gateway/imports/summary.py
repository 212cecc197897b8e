"""A batch run's summary: kept with the batch (its ``summary`` field) and told in words after ``END:``.

The summary says what the run did and nothing it did not: records read (processed),
committed, failed (not committed: incomplete, or refused by the store) and, in a
dry run, skipped (complete, but a dry run writes nothing); per table of the model
the records that were, or in a dry run would be, new, updated and unchanged (a dry
run also keeps the first updated records of each table with the Names that would
change: its change report); when it started and finished; the percent of the input
read (100 only for a run that finished); and for an interrupted run how far it got
and whether re-running it as a copy is safe (:func:`engine.rerun.rerun_problem`).

While a batch runs, a partial summary (``finished`` None) is checkpointed with it,
so that a run cut short by a dead worker still tells how far it got (at least: the
counts of the last checkpoint).
"""

from __future__ import annotations

from typing import Any, Final

from engine.changes import SAMPLE_SIZE, RunCounts

RERUN_SAFE: Final = (
    "Re-running it as a copy is safe: the control file finds every record by its keys before "
    "writing, so records committed before the stop are updated in place, not duplicated."
)
NOTHING_COMMITTED: Final = "Nothing was committed, so re-running it as a copy is safe."
UNKNOWN: Final = (
    "The run was cut short before it saved how far it got: check the records it imported "
    "before re-running it as a copy."
)


def build(
    *,
    dry_run: bool,
    started: str,
    finished: str | None,
    seconds: float | None,
    counts: RunCounts | None,
    read: int,
    committed: int,
    skipped: int,
    errors: int,
    percent: float,
    exception: str | None = None,
    rerun_problem: str | None = None,
) -> dict[str, Any]:
    """The summary of a run (``finished`` None while it runs); see the module docstring."""
    summary: dict[str, Any] = {
        "dry_run": dry_run,
        "started": started,
        "finished": finished,
        "duration_seconds": round(seconds, 3) if seconds is not None else None,
        "records_read": read,
        "records_committed": committed,
        "records_failed": max(0, read - committed - skipped),
        "records_skipped": skipped,
        "errors": errors,
        "percent": round(percent, 1),
        "destinations": counts.as_dict()["destinations"] if counts is not None else [],
        "rerun_problem": rerun_problem,
        "interrupted": None,
    }
    if exception is not None:
        summary["interrupted"] = interruption(exception, read, committed, rerun_problem)
    return summary


def interruption(
    reason: str,
    read: int,
    committed: int,
    rerun_problem: str | None,
    *,
    cut_short: bool = False,
    known: bool = True,
) -> dict[str, Any]:
    """How far an interrupted run got, and whether re-running it as a copy is safe (and why).

    ``cut_short``: the counts are the last saved ones (the run may have committed more);
    ``known``: whether ``rerun_problem`` was decided (a run cut short before it saved anything).
    """
    if committed == 0 and not cut_short:
        safe, rerun = True, NOTHING_COMMITTED
    elif not known:
        safe, rerun = False, UNKNOWN
    elif rerun_problem is None:
        safe, rerun = True, RERUN_SAFE
    else:
        safe = False
        rerun = (
            f"Re-running it as a copy may import the records committed before the stop again: {rerun_problem}. "
            "Remove them from the input first, or check the records already imported."
        )
    return {
        "reason": reason,
        "records_read": read,
        "records_committed": committed,
        "at_least": cut_short,
        "rerun_safe": safe,
        "rerun": rerun,
    }


def interrupted(partial: dict[str, Any] | None, reason: str, finished: str) -> dict[str, Any]:
    """The summary of a run that was cut short, from its last checkpointed partial summary."""
    summary = dict(partial or {})
    known = "rerun_problem" in summary
    summary.setdefault("dry_run", False)
    for field in ("records_read", "records_committed", "records_skipped", "errors"):
        summary[field] = int(summary.get(field) or 0)
    summary.setdefault("destinations", [])
    summary.setdefault("duration_seconds", None)
    summary["percent"] = min(float(summary.get("percent") or 0.0), 99.9)
    summary["finished"] = finished
    summary["records_failed"] = max(
        0, summary["records_read"] - summary["records_committed"] - summary["records_skipped"]
    )
    summary["interrupted"] = interruption(
        reason,
        summary["records_read"],
        summary["records_committed"],
        summary.get("rerun_problem"),
        cut_short=True,
        known=known,
    )
    return summary


def lines(summary: dict[str, Any]) -> list[str]:
    """The summary in words, one ``SUMMARY:`` line per fact (they follow the log's ``END:`` line)."""
    read, failed, errors = (summary.get(k, 0) for k in ("records_read", "records_failed", "errors"))
    if summary.get("dry_run"):
        done = f"{summary.get('records_skipped', 0)} skipped (a dry run writes nothing)"
    else:
        done = f"{summary.get('records_committed', 0)} committed"
    kind = "dry run: " if summary.get("dry_run") else ""
    out = [
        f"SUMMARY: {kind}{_count(read, 'record')} read, {done}, {failed} failed, {_count(errors, 'error')}"
    ]
    verb = "would be " if summary.get("dry_run") else ""
    for row in summary.get("destinations") or []:
        names = ", ".join(row.get("destinations") or [])
        out.append(
            f"SUMMARY: table {row.get('table')} ({names}): {verb}{row.get('new', 0)} new, "
            f"{row.get('updated', 0)} updated, {row.get('unchanged', 0)} unchanged"
        )
    seconds = summary.get("duration_seconds")
    if seconds is not None:
        out.append(
            f"SUMMARY: took {seconds:.1f} s, from {summary.get('started')} to {summary.get('finished')}"
        )
    stop = summary.get("interrupted")
    if stop:
        at_least = "at least " if stop.get("at_least") else ""
        out.append(
            f"SUMMARY: interrupted after {at_least}{_count(stop['records_read'], 'record')} read, "
            f"{at_least}{stop['records_committed']} committed ({stop['reason']})"
        )
        out.append(f"SUMMARY: {stop['rerun']}")
    return out


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def change_report(batch: dict[str, Any]) -> dict[str, Any] | None:
    """A batch's change report (JSON download): per table new/updated/unchanged and, for a dry run,
    the sampled updates with their changed Names; None before the batch has run."""
    summary = batch.get("summary")
    if not isinstance(summary, dict):
        return None
    return {
        "batch": batch.get("identifier"),
        "state": batch.get("state"),
        "dry_run": bool(summary.get("dry_run")),
        "finished": summary.get("finished"),
        "sample_size": SAMPLE_SIZE,
        "destinations": summary.get("destinations") or [],
    }


def status_counts(batch: dict[str, Any]) -> tuple[int, int, int]:
    """Records read, committed and failed as the status endpoint shows them (a running batch: as
    last saved)."""
    summary = batch.get("summary")
    if isinstance(summary, dict):
        done = int((batch.get("progress") or {}).get("records_done") or 0)
        return (
            done if batch.get("state") == "running" else int(summary.get("records_read") or 0),
            int(summary.get("records_committed") or 0),
            int(summary.get("records_failed") or 0),
        )
    return int((batch.get("progress") or {}).get("records_done") or 0), 0, 0


def without_samples(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch view with its summary's sampled changes left out (for lists)."""
    summary = batch.get("summary")
    if isinstance(summary, dict) and summary.get("destinations"):
        rows = [{k: v for k, v in row.items() if k != "sample"} for row in summary["destinations"]]
        batch["summary"] = {**summary, "destinations": rows}
    return batch
