"""HeldBlob (tests/support/held_blob.py) against a reader in this process that reads as the engine does."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from engine.readers.base import KEEP_LIMIT
from tests.support.held_blob import HeldBlob, blob_path

DATA = bytes(range(256)) * (KEEP_LIMIT // 256 + 100)  # just over KEEP_LIMIT: read twice
HELD_AT = 300_000


def stored(root: Path) -> Path:
    path = blob_path(root, DATA)
    path.parent.mkdir(parents=True)
    path.write_bytes(DATA)
    return path


class TwoPassReader(threading.Thread):
    """Reads the blob in full, closes it, then opens it again and reads until told to stop."""

    def __init__(self, path: Path, second_pass_limit: int | None = None) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.limit = second_pass_limit
        self.first = b""
        self.second = bytearray()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.path.open("rb") as stream:
                self.first = stream.read()
            with self.path.open("rb", buffering=0) as stream:
                while self.limit is None or len(self.second) < self.limit:
                    chunk = stream.read(65536)
                    if not chunk:
                        break
                    self.second += chunk
        except BaseException as exc:
            self.error = exc


def test_check_pass_gets_the_file_and_the_records_pass_waits_at_the_held_byte(tmp_path: Path) -> None:
    path = stored(tmp_path)
    reader = TwoPassReader(path)
    with HeldBlob(tmp_path, DATA, os.getpid(), HELD_AT, gated=True) as feed:
        assert path.is_fifo()
        reader.start()
        feed.serve()
        feed.wait_held()
        assert feed.opens == 2
        feed.release()
        reader.join(timeout=60)
        assert not reader.is_alive() and reader.error is None
        assert reader.first == DATA and bytes(reader.second) == DATA
    assert path.is_file() and path.read_bytes() == DATA  # the regular file is back


def test_nothing_past_the_held_byte_before_release_and_an_early_close_is_fine(tmp_path: Path) -> None:
    path = stored(tmp_path)
    reader = TwoPassReader(path, second_pass_limit=HELD_AT + 1)
    with HeldBlob(tmp_path, DATA, os.getpid(), HELD_AT) as feed:
        reader.start()
        feed.wait_held()
        deadline = time.monotonic() + 60  # only a bound: the held bytes are there to be read
        while len(reader.second) < HELD_AT:
            assert reader.error is None and time.monotonic() < deadline
            time.sleep(0.01)
        assert len(reader.second) == HELD_AT and reader.is_alive()  # it wants one byte more
        release = threading.Event()
        feed.release_when(release)
        release.set()
        reader.join(timeout=60)
        assert not reader.is_alive() and reader.error is None
        assert bytes(reader.second) == DATA[: len(reader.second)] and len(reader.second) > HELD_AT
    # leaving the block raised nothing: the reader closed early, which release_when allows
    assert path.read_bytes() == DATA


def test_a_small_file_cannot_be_held(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="read in one pass"):
        HeldBlob(tmp_path, b"[]", os.getpid(), 1)
