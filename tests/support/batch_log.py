"""Reading batch logs in tests: the run's lines, and the summary in words after ``END:``."""

from __future__ import annotations


def run_lines(log: str | None) -> list[str]:
    """The log's lines from ``START:`` to ``END:`` (the ``SUMMARY:`` lines after it left out)."""
    lines = (log or "").split("\n")
    ends = [i for i, line in enumerate(lines) if line.startswith("END: ")]
    return lines[: ends[-1] + 1] if ends else lines


def summary_lines(log: str | None) -> list[str]:
    """The ``SUMMARY:`` lines after the log's ``END:`` line."""
    lines = (log or "").split("\n")
    return lines[len(run_lines(log)) :]
