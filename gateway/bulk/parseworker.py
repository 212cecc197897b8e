"""A parse worker: ``python -m gateway.bulk.parseworker FILE|fd:N`` writes the parts of a CSV file.

The loading process starts it for large files so that reading, parsing and
casting (this process) overlap with encoding and writing (the loader). Parts go
to stdout as frames: an 8-byte big-endian length, then ``marshal`` data of
``(bytes_read, part tuple)``; a final frame ``(bytes_read, None)`` ends the
stream. Only builtin types cross the pipe. The path was confined by the caller.
"""

from __future__ import annotations

import marshal
import struct
import sys
from collections.abc import Iterator
from typing import IO, Any, BinaryIO

from gateway.bulk.csvsource import text_blocks
from gateway.bulk.prepare import CHUNK_ROWS, Part, prepare

FRAME = struct.Struct(">Q")


def write_frame(out: BinaryIO, payload: Any) -> None:
    data = marshal.dumps(payload)
    out.write(FRAME.pack(len(data)))
    out.write(data)
    out.flush()


def read_frames(stream: IO[bytes]) -> Iterator[tuple[int, Part | None]]:
    """``(bytes_read, part)`` frames from a worker; ``part`` None marks the end."""
    while True:
        head = stream.read(FRAME.size)
        if len(head) < FRAME.size:
            raise EOFError("the parse worker stopped without finishing")
        (length,) = FRAME.unpack(head)
        data = stream.read(length)
        if len(data) < length:
            raise EOFError("the parse worker stopped in the middle of a frame")
        bytes_read, wire = marshal.loads(data)
        yield bytes_read, None if wire is None else Part.from_wire(wire)
        if wire is None:
            return


def main(argv: list[str]) -> int:
    """``FILE`` or ``fd:N`` (a descriptor inherited from the caller), optional chunk size."""
    source_name = argv[0]
    chunk_rows = int(argv[1]) if len(argv) > 1 else CHUNK_ROWS
    counted = [0]

    def count(n: int) -> None:
        counted[0] += n

    out = sys.stdout.buffer
    target: str | int = int(source_name[3:]) if source_name.startswith("fd:") else source_name
    with open(target, "rb", buffering=0) as source:
        for part in prepare(text_blocks(source.read, count), chunk_rows, cast=False):
            write_frame(out, (counted[0], part.to_wire()))
    write_frame(out, (counted[0], None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
