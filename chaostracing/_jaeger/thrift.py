"""Jaeger's agent protocol: ``Agent.emitBatch`` in Thrift's compact encoding.

A Jaeger agent listens on UDP 6831 for one-way ``emitBatch(Batch)`` calls,
one per datagram, of at most 65,000 bytes. This module turns
:class:`~chaostracing._data.model.SpanData` objects into such datagrams.

Each span is encoded once, on its own, and datagrams are assembled from the
encoded pieces: in the compact protocol a struct inside a list is written
exactly as a struct on its own, so the size of a batch is known before it is
built and a batch never has to be encoded twice. A span too large for one
datagram is trimmed (:func:`encode_fitting`), never dropped.

The encoding is written here rather than taken from jaeger-client's generated
code because that code has no C-accelerated compact path: pure-Python thrift
takes several times longer per span than this module
(``benchmarks/micro_cost.py`` measures both). The test suite
decodes what we send with the thrift library and jaeger-client's own
generated types, so the two are checked against each other.
"""
import struct
from typing import Any, Dict, Iterable, Iterator, List, Tuple

from chaostracing._data.model import Process, SpanData
from chaostracing._data.tags import CHAOSTRACING_TRIMMED

__all__ = [
    "MAX_DATAGRAM",
    "encode_fitting",
    "encode_process",
    "encode_span",
    "pack_datagrams",
    "span_budget",
]

#: the Jaeger agent's largest accepted UDP packet
MAX_DATAGRAM = 65000

# compact protocol type ids
_BOOL_TRUE, _BOOL_FALSE, _I32, _I64, _DOUBLE, _BINARY, _LIST, _STRUCT = (
    1,
    2,
    5,
    6,
    7,
    8,
    9,
    12,
)
_TAG_STRING, _TAG_DOUBLE, _TAG_BOOL, _TAG_LONG, _TAG_BINARY = 0, 1, 2, 3, 4
_MASK64 = (1 << 64) - 1
_pack_double = struct.Struct("<d").pack


def encode_span(record: SpanData) -> bytes:
    """The compact encoding of one ``jaeger.Span`` struct."""
    out = bytearray()
    trace_low = record.trace_id & _MASK64
    trace_high = (record.trace_id >> 64) & _MASK64
    _id_field(out, 1, trace_low)  # field 1
    _id_field(out, 1, trace_high)  # 2
    _i64_field(out, 1, record.span_id)  # 3
    _id_field(out, 1, record.parent_id)  # 4
    _field(out, 1, _BINARY)
    _string(out, record.operation_name)
    last = 5
    if record.references:
        _field(out, 1, _LIST)
        _list_header(out, len(record.references), _STRUCT)
        for ref_type, ref_trace, ref_span in record.references:
            _i32_field(out, 1, ref_type)
            _i64_field(out, 1, ref_trace & _MASK64)
            _i64_field(out, 1, (ref_trace >> 64) & _MASK64)
            _i64_field(out, 1, ref_span)
            out.append(0)
        last = 6
    _i32_field(out, 7 - last, record.flags)
    _i64_field(out, 1, record.start_us)
    _i64_field(out, 1, record.duration_us)
    last = 9
    if record.tags:
        _field(out, 10 - last, _LIST)
        _tags(out, record.tags)
        last = 10
    if record.logs:
        _field(out, 11 - last, _LIST)
        _list_header(out, len(record.logs), _STRUCT)
        for timestamp_us, fields in record.logs:
            _i64_field(out, 1, timestamp_us)
            _field(out, 1, _LIST)
            _tags(out, fields)
            out.append(0)
    out.append(0)
    return bytes(out)


def encode_process(process: Process) -> bytes:
    """The compact encoding of one ``jaeger.Process`` struct."""
    out = bytearray()
    _field(out, 1, _BINARY)
    _string(out, process.service_name)
    if process.tags:
        _field(out, 1, _LIST)
        _tags(out, process.tags)
    out.append(0)
    return bytes(out)


def encode_fitting(record: SpanData, budget: int) -> Tuple[bytes, bool]:
    """The encoding of ``record``, trimmed until it is at most ``budget``
    bytes: its longest values are cut first, then references, logs and
    tags go, and at worst only the ids, name and times remain. Every step
    shrinks the span, so this ends after a few encodings.

    :return: ``(encoded, trimmed)``
    """
    data = encode_span(record)
    if len(data) <= budget:
        return data, False
    for limit in (4096, 1024, 256, 64, 16):
        record = _cut_values(record, limit, max(1, budget // (limit * 4)))
        data = encode_span(record)
        if len(data) <= budget:
            return data, True
    tags = dict(list(record.tags.items())[:32])
    tags[CHAOSTRACING_TRIMMED] = True
    record = record.replace(
        references=record.references[:16], logs=[], tags=tags)
    data = encode_span(record)
    if len(data) <= budget:
        return data, True
    bare = record.replace(
        references=[], logs=[], tags={CHAOSTRACING_TRIMMED: True},
        operation_name=record.operation_name[:128],
    )
    return encode_span(bare), True


def pack_datagrams(
    process: bytes,
    spans: Iterable[bytes],
    max_size: int = MAX_DATAGRAM,
    seq_id: int = 0,
) -> Iterator[Tuple[bytes, int]]:
    """Group encoded spans into ``emitBatch`` datagrams of ``max_size`` at most.

    Yields ``(datagram, number of spans in it)``. Spans too large to fit
    even alone must have been trimmed before (see :func:`encode_fitting` and
    :func:`span_budget`); one that still does not fit raises ``ValueError``.
    """
    head = _message_head(seq_id) + b"\x1c\x1c" + process + b"\x19"
    # list header (up to 6 bytes) + batch stop + args stop
    budget = max_size - len(head) - 6 - 2
    chunk: List[bytes] = []
    size = 0
    for encoded in spans:
        if len(encoded) > budget:
            raise ValueError(
                f"an encoded span of {len(encoded)} bytes cannot fit in a "
                f"datagram of {max_size} bytes"
            )
        if chunk and size + len(encoded) > budget:
            yield _datagram(head, chunk), len(chunk)
            chunk, size = [], 0
        chunk.append(encoded)
        size += len(encoded)
    if chunk:
        yield _datagram(head, chunk), len(chunk)


def span_budget(process: bytes, max_size: int = MAX_DATAGRAM) -> int:
    """The largest encoded span that fits alone in one datagram, whatever
    its sequence number (whose varint takes up to 5 bytes)."""
    return max_size - len(_message_head(0xFFFFFFFF)) - 3 - len(process) - 6 - 2


###############################################################################
# Internals
###############################################################################
def _cut_values(record: SpanData, limit: int, keep: int) -> SpanData:
    """``record`` with strings cut to ``limit`` and lists to ``keep``."""
    def cut(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            return value[: max(0, limit - 3)] + "..."
        if isinstance(value, (bytes, bytearray)) and len(value) > limit:
            return bytes(value[:limit])
        return value

    def tags(pairs: Dict[str, Any]) -> Dict[str, Any]:
        return {key[:limit]: cut(value) for key, value in pairs.items()}

    return record.replace(
        operation_name=record.operation_name[:limit],
        tags=tags(record.tags),
        logs=[(ts, tags(fields)) for ts, fields in record.logs[:keep * 16]],
        references=record.references[:keep * 64],
    )


def _datagram(head: bytes, chunk: List[bytes]) -> bytes:
    out = bytearray(head)
    _list_header(out, len(chunk), _STRUCT)
    for encoded in chunk:
        out += encoded
    out += b"\x00\x00"  # end of Batch, end of emitBatch_args
    return bytes(out)


def _message_head(seq_id: int) -> bytes:
    out = bytearray(b"\x82\x81")  # protocol id, version 1 | ONEWAY << 5
    _varint(out, seq_id & 0xFFFFFFFF)
    _string(out, "emitBatch")
    return bytes(out)


def _tags(out: bytearray, tags: Any) -> None:
    """A list of ``jaeger.Tag``, from a dict or a sequence of pairs."""
    _list_header(out, len(tags), _STRUCT)
    for key, value in tags.items() if isinstance(tags, dict) else tags:
        _field(out, 1, _BINARY)
        _string(out, key)
        if value is True or value is False:
            _i32_field(out, 1, _TAG_BOOL)
            _field(out, 3, _BOOL_TRUE if value else _BOOL_FALSE)
        elif isinstance(value, int) and -(1 << 63) <= value < (1 << 63):
            _i32_field(out, 1, _TAG_LONG)
            _i64_field(out, 4, value)
        elif isinstance(value, float):
            _i32_field(out, 1, _TAG_DOUBLE)
            _field(out, 2, _DOUBLE)
            out += _pack_double(value)
        elif isinstance(value, (bytes, bytearray)):
            _i32_field(out, 1, _TAG_BINARY)
            _field(out, 5, _BINARY)
            _varint(out, len(value))
            out += value
        else:
            _i32_field(out, 1, _TAG_STRING)
            _field(out, 1, _BINARY)
            _string(out, value if isinstance(value, str) else str(value))
        out.append(0)


def _field(out: bytearray, delta: int, ctype: int) -> None:
    out.append((delta << 4) | ctype)


def _i32_field(out: bytearray, delta: int, value: int) -> None:
    out.append((delta << 4) | _I32)
    _varint(out, ((value << 1) ^ (value >> 31)) & 0xFFFFFFFF)


def _i64_field(out: bytearray, delta: int, value: int) -> None:
    out.append((delta << 4) | _I64)
    # ids are unsigned 64-bit numbers carried in a signed i64
    signed = value - (1 << 64) if value >= 1 << 63 else value
    _varint(out, ((signed << 1) ^ (signed >> 63)) & _MASK64)


def _id_field(out: bytearray, delta: int, value: int) -> None:
    """An id that repeats across spans (trace id halves, parent ids)."""
    encoded = _id_cache.get((delta, value))
    if encoded is None:
        buf = bytearray()
        _i64_field(buf, delta, value)
        encoded = bytes(buf)
        if len(_id_cache) >= 64:
            _id_cache.clear()
        _id_cache[(delta, value)] = encoded
    out += encoded


# the trace id (and parents) of a run repeat in every span: encode them once;
# a small bound keeps memory flat across runs
_id_cache: Dict[Any, bytes] = {}


def _list_header(out: bytearray, size: int, etype: int) -> None:
    if size < 15:
        out.append((size << 4) | etype)
    else:
        out.append(0xF0 | etype)
        _varint(out, size)


def _string(out: bytearray, text: str) -> None:
    data = text.encode("utf-8", "replace")
    _varint(out, len(data))
    out += data


def _varint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
