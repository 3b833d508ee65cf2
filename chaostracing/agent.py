"""A Jaeger-agent-compatible UDP receiver, for users without Jaeger and tests.

It decodes ``Agent.emitBatch`` datagrams (Thrift compact or binary, see
:mod:`chaostracing.thrift_decode`) and keeps the spans as
:class:`ReceivedSpan`. Malformed datagrams are counted and skipped.

>>> with AgentReceiver() as agent:            # doctest: +SKIP
...     port = agent.port                     # point tracing_port here
...     spans = agent.wait_for(count=5, timeout=2)
"""
import collections
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from chaostracing.exporters.records import CHILD_OF, FOLLOWS_FROM, SpanRecord
from chaostracing.thrift_decode import decode_emit_batch

__all__ = ["AgentReceiver", "ReceivedSpan", "decode_datagram"]


@dataclass
class ReceivedSpan:
    trace_id: int
    span_id: int
    parent_id: int
    operation_name: str
    start_us: int
    duration_us: int
    flags: int
    service_name: str
    tags: Dict[str, Any] = field(default_factory=dict)
    logs: List[Tuple[int, Dict[str, Any]]] = field(default_factory=list)
    references: List[Tuple[str, int, int]] = field(default_factory=list)
    process_tags: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(
        cls, record: SpanRecord, service: str, process_tags: Dict[str, Any]
    ) -> "ReceivedSpan":
        return cls(
            trace_id=record.trace_id,
            span_id=record.span_id,
            parent_id=record.parent_id or 0,
            operation_name=record.operation_name,
            start_us=record.start_us,
            duration_us=record.duration_us,
            flags=record.flags,
            service_name=service,
            tags=dict(record.tags),
            logs=[(ts, dict(fields)) for ts, fields in record.logs],
            references=[
                ("follows_from" if kind == FOLLOWS_FROM else "child_of", trace,
                 span)
                for kind, trace, span in record.references
            ],
            process_tags=process_tags,
        )

    def to_record(self) -> SpanRecord:
        return SpanRecord(
            trace_id=self.trace_id,
            span_id=self.span_id,
            parent_id=self.parent_id or None,
            flags=self.flags,
            operation_name=self.operation_name,
            start_us=self.start_us,
            duration_us=self.duration_us,
            references=[
                (FOLLOWS_FROM if kind == "follows_from" else CHILD_OF, trace,
                 span)
                for kind, trace, span in self.references
            ],
            tags=list(self.tags.items()),
            logs=[(ts, list(fields.items())) for ts, fields in self.logs],
        )

    @property
    def trace_id_hex(self) -> str:
        return format(self.trace_id, "032x" if self.trace_id >> 64 else "016x")


def decode_datagram(data: bytes) -> List[ReceivedSpan]:
    """Decode one ``emitBatch`` datagram (compact, else binary protocol).

    :raises ValueError: when the datagram is not such a message.
    """
    service, process_tags, records = decode_emit_batch(data)
    process = dict(process_tags)
    return [ReceivedSpan.from_record(r, service, process) for r in records]


class AgentReceiver:
    """Listen for Jaeger agent datagrams on a UDP port, in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        # a burst of spans must not overflow the kernel's buffer
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._sock.bind((host, port))
        self._sock.settimeout(0.1)
        self.host = host
        self.port = self._sock.getsockname()[1]
        self.spans: List[ReceivedSpan] = []
        self.datagrams: List[bytes] = []
        self.malformed = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        # one thread only empties the socket (the kernel's buffer may be
        # small), another decodes: a burst is never dropped for slow decoding
        self._raw: "collections.deque[bytes]" = collections.deque()
        self._arrived = threading.Event()
        self._threads = [
            threading.Thread(target=self._receive, name="chaostracing-agent",
                             daemon=True),
            threading.Thread(target=self._decode, name="chaostracing-decode",
                             daemon=True),
        ]

    def start(self) -> "AgentReceiver":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._arrived.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> "AgentReceiver":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def wait_for(
        self, count: int, timeout: float = 5.0
    ) -> List[ReceivedSpan]:
        """The spans received, once there are ``count`` or at the timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.spans) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self.spans)

    def wait_quiet(self, quiet: float = 0.3, timeout: float = 5.0):
        """The spans received once no datagram arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.datagrams), time.monotonic()
        while time.monotonic() < deadline:
            with self._changed:
                self._changed.wait(min(quiet, 0.05))
                count = len(self.datagrams)
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return list(self.spans)

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            self._raw.append(data)
            self._arrived.set()

    def _decode(self) -> None:
        while True:
            self._arrived.wait()
            self._arrived.clear()
            while self._raw:
                data = self._raw.popleft()
                try:
                    spans = decode_datagram(data)
                except ValueError:
                    with self._changed:
                        self.malformed += 1
                        self._changed.notify_all()
                    continue
                with self._changed:
                    self.datagrams.append(data)
                    self.spans.extend(spans)
                    self._changed.notify_all()
            if self._stop.is_set():
                return
