"""A Jaeger-agent-compatible UDP receiver, for users without Jaeger and tests.

It decodes ``Agent.emitBatch`` datagrams (Thrift compact or binary) with the
thrift library and jaeger-client's generated types (the ``[jaeger]`` extra),
an implementation independent of our encoder, and keeps the spans as
:class:`ReceivedSpan`. Malformed datagrams are counted and skipped.

>>> with AgentReceiver() as agent:            # doctest: +SKIP
...     port = agent.port                     # point tracing_port here
...     spans = agent.wait_for(count=5, timeout=2)
"""
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["AgentReceiver", "ReceivedSpan", "decode_datagram"]

_MASK64 = (1 << 64) - 1


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

    @property
    def trace_id_hex(self) -> str:
        return format(self.trace_id, "032x" if self.trace_id >> 64 else "016x")


def decode_datagram(data: bytes) -> List[ReceivedSpan]:
    """Decode one ``emitBatch`` datagram (compact, else binary protocol).

    :raises ValueError: when the datagram is not such a message.
    """
    from jaeger_client.thrift_gen.agent import Agent
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    from thrift.transport import TTransport

    if data[:1] == b"\x82":
        factory = TCompactProtocol.TCompactProtocol
    elif data[:2] == b"\x80\x01":
        factory = TBinaryProtocol.TBinaryProtocol
    else:
        raise ValueError("not a Thrift compact or binary message")
    protocol = factory(TTransport.TMemoryBuffer(data))
    try:
        name, _, _ = protocol.readMessageBegin()
        if name != "emitBatch":
            raise ValueError(f"unexpected Thrift call {name!r}")
        args = Agent.emitBatch_args()
        args.read(protocol)
        protocol.readMessageEnd()
    except ValueError:
        raise
    except Exception as error:  # thrift raises assorted types on garbage
        raise ValueError(f"malformed emitBatch: {error!r}") from error
    batch = args.batch
    if batch is None or batch.process is None:
        raise ValueError("emitBatch without a batch")
    process_tags = _tags(batch.process.tags)
    spans = []
    for s in batch.spans or ():
        spans.append(
            ReceivedSpan(
                trace_id=(_u64(s.traceIdHigh) << 64) | _u64(s.traceIdLow),
                span_id=_u64(s.spanId),
                parent_id=_u64(s.parentSpanId or 0),
                operation_name=s.operationName,
                start_us=s.startTime,
                duration_us=s.duration,
                flags=s.flags,
                service_name=batch.process.serviceName,
                tags=_tags(s.tags),
                logs=[(log.timestamp, _tags(log.fields)) for log in s.logs or ()],
                references=[
                    (
                        "follows_from" if r.refType == 1 else "child_of",
                        (_u64(r.traceIdHigh) << 64) | _u64(r.traceIdLow),
                        _u64(r.spanId),
                    )
                    for r in s.references or ()
                ],
                process_tags=process_tags,
            )
        )
    return spans


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
        self._thread = threading.Thread(
            target=self._serve, name="chaostracing-agent", daemon=True
        )

    def start(self) -> "AgentReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
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

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                break
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


def _u64(value: Optional[int]) -> int:
    return (value or 0) & _MASK64


def _tags(tags: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for tag in tags or ():
        kind = tag.vType
        if kind == 0:
            out[tag.key] = tag.vStr
        elif kind == 1:
            out[tag.key] = tag.vDouble
        elif kind == 2:
            out[tag.key] = tag.vBool
        elif kind == 3:
            out[tag.key] = tag.vLong
        else:
            out[tag.key] = tag.vBinary
    return out
