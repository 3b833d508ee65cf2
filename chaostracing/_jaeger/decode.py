"""Decode Jaeger agent datagrams: ``Agent.emitBatch`` in Thrift compact or
binary.

A small, defensive reader: every length is checked against what is left of
the datagram, nesting is bounded, and anything malformed raises
``ValueError``, never anything else. It needs no thrift library, so
``chaostracing collect`` works on a bare install. The test suite checks it
against the thrift library's own decoder.
"""
import struct
from typing import Any, Dict, List, Tuple

from chaostracing._data.model import Process, SpanData

__all__ = ["decode_emit_batch"]

_MAX_DEPTH = 16
_unpack_le_double = struct.Struct("<d").unpack_from
_unpack_be_double = struct.Struct(">d").unpack_from
_unpack_i16 = struct.Struct(">h").unpack_from
_unpack_i32 = struct.Struct(">i").unpack_from
_unpack_i64 = struct.Struct(">q").unpack_from


def decode_emit_batch(data: bytes) -> List[SpanData]:
    """The spans of one ``emitBatch`` datagram, sharing one :class:`Process`.

    :raises ValueError: when ``data`` is not such a message.
    """
    if data[:1] == b"\x82":
        reader: _Reader = _Compact(data)
    elif data[:2] == b"\x80\x01":
        reader = _Binary(data)
    else:
        raise ValueError("not a Thrift compact or binary message")
    try:
        name = reader.message_begin()
        if name != "emitBatch":
            raise ValueError(f"unexpected Thrift call {name!r}")
        args = reader.struct(0)
    except (IndexError, struct.error, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"malformed emitBatch: {e!r}") from None
    batch = _get(args, 1, dict)
    process = _get(batch, 1, dict)
    sender = Process(
        _text(_get(process, 1, bytes)),
        [_tag(t) for t in _get(process, 2, list, [])],
    )
    return [_span(s, sender) for s in _get(batch, 2, list)]


###############################################################################
# Internals
###############################################################################
_MISSING = object()


def _get(struct_: Any, fid: int, kind: type, default: Any = _MISSING) -> Any:
    if not isinstance(struct_, dict):
        raise ValueError("expected a struct")
    value = struct_.get(fid, default)
    if value is _MISSING:
        raise ValueError(f"required field {fid} missing")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"field {fid} has the wrong type")
    return value


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _u64(value: int) -> int:
    return value & 0xFFFFFFFFFFFFFFFF


def _tag(raw: Any) -> Tuple[str, Any]:
    key = _text(_get(raw, 1, bytes))
    kind = _get(raw, 2, int)
    if kind == 1:
        return key, _get(raw, 4, float)
    if kind == 2:
        return key, _get(raw, 5, bool)
    if kind == 3:
        return key, _get(raw, 6, int)
    if kind == 4:
        return key, _get(raw, 7, bytes)
    return key, _text(_get(raw, 3, bytes, b""))


def _span(raw: Any, process: Process) -> SpanData:
    trace_id = (_u64(_get(raw, 2, int)) << 64) | _u64(_get(raw, 1, int))
    parent = _u64(_get(raw, 4, int))
    references = []
    for ref in _get(raw, 6, list, []):
        kind = 1 if _get(ref, 1, int) == 1 else 0
        trace = (_u64(_get(ref, 3, int)) << 64) | _u64(_get(ref, 2, int))
        span = _u64(_get(ref, 4, int))
        if not parent and kind == 0 and trace == trace_id:
            parent = span  # clients may give the parent as a reference only
        elif not (kind == 0 and span == parent and trace == trace_id):
            references.append((kind, trace, span))
    return SpanData(
        trace_id=trace_id,
        span_id=_u64(_get(raw, 3, int)),
        parent_id=parent,
        flags=_get(raw, 7, int),
        operation_name=_text(_get(raw, 5, bytes)),
        start_us=_get(raw, 8, int),
        duration_us=_get(raw, 9, int),
        references=references,
        tags=dict(_tag(t) for t in _get(raw, 10, list, [])),
        logs=[
            (_get(log, 1, int), dict(_tag(t) for t in _get(log, 2, list)))
            for log in _get(raw, 11, list, [])
        ],
        process=process,
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated datagram")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def message_begin(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def struct(self, depth: int) -> Dict[int, Any]:  # pragma: no cover
        raise NotImplementedError


class _Compact(_Reader):
    def varint(self) -> int:
        shift = result = 0
        while True:
            byte = self.take(1)[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def message_begin(self) -> str:
        self.take(2)  # protocol id, version and type
        self.varint()  # sequence id
        return _text(self.take(self.varint()))

    def struct(self, depth: int) -> Dict[int, Any]:
        if depth > _MAX_DEPTH:
            raise ValueError("nesting too deep")
        fields: Dict[int, Any] = {}
        last = 0
        while True:
            head = self.take(1)[0]
            if head == 0:
                return fields
            delta, kind = head >> 4, head & 0x0F
            fid = last + delta if delta else self.zigzag()
            last = fid
            if kind in (1, 2):
                fields[fid] = kind == 1
            else:
                fields[fid] = self.value(kind, depth)

    def value(self, kind: int, depth: int) -> Any:
        if kind in (1, 2):  # a bool inside a container: one byte
            return self.take(1)[0] == 1
        if kind == 3:
            return struct.unpack("b", self.take(1))[0]
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            return _unpack_le_double(self.take(8))[0]
        if kind == 8:
            return self.take(self.varint())
        if kind in (9, 10):
            head = self.take(1)[0]
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            if size > len(self.data) - self.pos:
                raise ValueError("list longer than the datagram")
            return [self.value(etype, depth + 1) for _ in range(size)]
        if kind == 11:
            size = self.varint()
            if size == 0:
                return {}
            types = self.take(1)[0]
            if size > len(self.data) - self.pos:
                raise ValueError("map longer than the datagram")
            return {
                self._key(self.value(types >> 4, depth + 1)): self.value(
                    types & 0x0F, depth + 1
                )
                for _ in range(size)
            }
        if kind == 12:
            return self.struct(depth + 1)
        raise ValueError(f"unknown compact type {kind}")

    @staticmethod
    def _key(value: Any) -> Any:
        if isinstance(value, (int, bytes, str, float)):
            return value
        return repr(value)


class _Binary(_Reader):
    def i32(self) -> int:
        value: int = _unpack_i32(self.take(4))[0]
        return value

    def message_begin(self) -> str:
        self.take(4)  # version and type
        name = _text(self.take(self.i32()))
        self.i32()  # sequence id
        return name

    def struct(self, depth: int) -> Dict[int, Any]:
        if depth > _MAX_DEPTH:
            raise ValueError("nesting too deep")
        fields: Dict[int, Any] = {}
        while True:
            kind = self.take(1)[0]
            if kind == 0:
                return fields
            fid = _unpack_i16(self.take(2))[0]
            fields[fid] = self.value(kind, depth)

    def value(self, kind: int, depth: int) -> Any:
        if kind == 2:
            return self.take(1)[0] != 0
        if kind == 3:
            return struct.unpack("b", self.take(1))[0]
        if kind == 4:
            return _unpack_be_double(self.take(8))[0]
        if kind == 6:
            return _unpack_i16(self.take(2))[0]
        if kind == 8:
            return self.i32()
        if kind == 10:
            return _unpack_i64(self.take(8))[0]
        if kind == 11:
            return self.take(self.i32())
        if kind == 12:
            return self.struct(depth + 1)
        if kind in (14, 15):
            etype = self.take(1)[0]
            size = self.i32()
            if size > len(self.data) - self.pos:
                raise ValueError("list longer than the datagram")
            return [self.value(etype, depth + 1) for _ in range(size)]
        if kind == 13:
            ktype, vtype = self.take(1)[0], self.take(1)[0]
            size = self.i32()
            if size > len(self.data) - self.pos:
                raise ValueError("map longer than the datagram")
            return {
                _Compact._key(self.value(ktype, depth + 1)): self.value(
                    vtype, depth + 1
                )
                for _ in range(size)
            }
        raise ValueError(f"unknown binary type {kind}")
