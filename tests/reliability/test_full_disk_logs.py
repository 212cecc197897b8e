"""The log file on a full disk: a line is written whole or not at all, lost lines are counted
and reported once there is space again, and one notice (not a traceback per line) goes to
stderr. The file is on a tmpfs of its own (skipped where one cannot be mounted).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from gateway.logs import LOG_FILE, JsonLinesHandler
from tests.support.small_disk import MiB, small_disk

NOTICE = "no space left on the device (logs store)"


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A logger of its own (not propagated), so that only this test's lines reach the file."""
    log = logging.getLogger("gateway.tests.full_disk_logs")
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def test_log_lines_are_whole_or_dropped_and_counted(
    tmp_path: Path, logger: logging.Logger, capfd: pytest.CaptureFixture[str]
) -> None:
    with small_disk(tmp_path, 1 * MiB) as disk:
        path = disk.mountpoint / "log" / LOG_FILE
        logger.addHandler(JsonLinesHandler(path))
        logger.info("before the disk is full")
        disk.fill()
        for number in range(200):  # the first few fit into the last page of the file, then none
            logger.warning("line %d %s", number, "y" * 100)

        written = [orjson.loads(line) for line in path.read_bytes().splitlines()]  # every line whole
        dropped = 200 - (len(written) - 1)
        assert 0 < dropped < 200
        assert [e["message"] for e in written[1:]] == [f"line {n} {'y' * 100}" for n in range(200 - dropped)]

        disk.unfill()
        logger.info("space again")
        entries = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        assert entries[-2]["level"] == "warning"
        assert entries[-2]["message"] == f"{dropped} log line(s) were dropped: {NOTICE}"
        assert entries[-1]["message"] == "space again"
        logger.info("and again")
        assert orjson.loads(path.read_bytes().splitlines()[-1])["message"] == "and again"

    stderr = capfd.readouterr().err
    assert stderr.count(NOTICE) == 1, stderr
    assert "Logging error" not in stderr
