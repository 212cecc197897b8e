"""The report of a measure taken with a setting off and on, alternating (bench/bulk.py and
bench/engine.py's ``--txlog`` and ``--hints``): medians of wall and CPU seconds, and their on/off ratios."""

from __future__ import annotations

import statistics


def print_off_on(
    label: str,
    count: int,
    unit: str,
    seconds: tuple[list[float], list[float]],
    cpu: tuple[list[float], list[float]],
    setting: str = "transaction log",
) -> None:
    """Print ``count`` ``unit`` measured with ``setting`` off then on: ``seconds`` and ``cpu`` are
    (off runs, on runs)."""
    runs_off, runs_on = seconds
    off, on = statistics.median(runs_off), statistics.median(runs_on)
    cpu_off, cpu_on = statistics.median(cpu[0]), statistics.median(cpu[1])
    print(
        f"{count:>9,} {label}, median of {len(runs_off)}: {setting} off {count / off:,.0f} {unit}/s "
        f"({off:.2f} s), on {count / on:,.0f} {unit}/s ({on:.2f} s); on/off time {on / off:.3f}x "
        f"(runs off {', '.join(f'{s:.2f}' for s in runs_off)}; on {', '.join(f'{s:.2f}' for s in runs_on)})\n"
        f"{'':>9} CPU seconds, median: off {cpu_off:.2f}, on {cpu_on:.2f}; on/off {cpu_on / cpu_off:.3f}x",
        flush=True,
    )
