"""A PNG's chunk list read from the 8-byte chunk headers alone: what decoding it would cost, before it is decoded.

A PNG is a signature, then chunks (length, type, data, CRC). Decoders handle every chunk, so a
few megabytes of empty or text chunks cost a decoder far more than the picture they carry
(300,000 empty chunks: 0.7 s of CPU). Counting them costs nothing: only the headers are read,
and the walk stops once a limit is passed.
"""

from __future__ import annotations

from dataclasses import dataclass

_SIGNATURE_BYTES = 8


@dataclass(frozen=True)
class ChunkCounts:
    """What a PNG's chunk headers say, counted up to a limit."""

    chunks: int  # chunks read, at most the limit + 1
    extra_chunks: int  # of those, chunks that are not image data (not IDAT)
    extra_bytes: int  # their declared bytes
    complete: bool  # the walk reached IEND within the file (False: cut short, or stopped at the limit)


def count_chunks(data: bytes, max_chunks: int, max_extra_chunks: int, max_extra_bytes: int) -> ChunkCounts:
    """Walk the chunk headers of the PNG ``data`` (its signature already checked), stopping past any limit.

    Returns:
        The counts; ``complete`` is False when the file ends before IEND or a limit was passed.
    """
    offset, chunks, extra_chunks, extra_bytes = _SIGNATURE_BYTES, 0, 0, 0
    while offset + 8 <= len(data):
        length, kind = int.from_bytes(data[offset:offset + 4], "big"), bytes(data[offset + 4:offset + 8])
        chunks += 1
        if kind != b"IDAT":
            extra_chunks, extra_bytes = extra_chunks + 1, extra_bytes + length
        if chunks > max_chunks or extra_chunks > max_extra_chunks or extra_bytes > max_extra_bytes:
            break
        offset += 12 + length
        if kind == b"IEND":
            return ChunkCounts(chunks, extra_chunks, extra_bytes, offset <= len(data))
    return ChunkCounts(chunks, extra_chunks, extra_bytes, False)
