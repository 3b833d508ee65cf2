"""A Jaeger-agent-compatible UDP receiver, for users without Jaeger and tests.

It decodes ``Agent.emitBatch`` datagrams (Thrift compact or binary, see
:mod:`chaostracing._jaeger.decode`) into
:class:`~chaostracing._data.model.SpanData` and hands them to ``on_spans``
(the collector's store), or keeps them in :attr:`AgentReceiver.spans`.
Malformed datagrams are counted and skipped.

One thread only empties the socket (the kernel's buffer may be small),
another decodes: a burst is not dropped for slow decoding. Between them at
most ``max_backlog`` datagrams wait; beyond, datagrams are counted as
dropped rather than held without bound.

>>> with AgentReceiver() as agent:            # a free port on 127.0.0.1
...     port = agent.port                     # point tracing_port here
...     spans = agent.wait_for(count=5, timeout=0.1)
>>> spans                                     # nothing was sent
[]
"""
import collections
import socket
import threading
import time
from typing import Any, Callable, List, Optional

from chaostracing._data.model import SpanData
from chaostracing._jaeger.decode import decode_emit_batch

__all__ = ["AgentReceiver", "decode_datagram"]


def decode_datagram(data: bytes) -> List[SpanData]:
    """Decode one ``emitBatch`` datagram (compact, else binary protocol).

    :raises ValueError: when the datagram is not such a message.
    """
    return decode_emit_batch(data)


class AgentReceiver:
    """Listen for Jaeger agent datagrams on a UDP port, in threads.

    :param on_spans: called (on the decoding thread) with the spans of each
        datagram; by default they are appended to :attr:`spans`
    :param keep_datagrams: keep every raw datagram in :attr:`raw` (tests
        check bytes on the wire; the collector does not keep them)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        on_spans: Optional[Callable[[List[SpanData]], Any]] = None,
        keep_datagrams: bool = False,
        max_backlog: int = 20_000,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        # a burst of spans must not overflow the kernel's buffer
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self._sock.bind((host, port))
        self._sock.settimeout(0.1)
        self.host = host
        self.port = self._sock.getsockname()[1]
        self.spans: List[SpanData] = []
        self.raw: List[bytes] = []
        self._keep = keep_datagrams
        self._on_spans = on_spans
        self._max_backlog = max_backlog
        #: datagrams decoded / malformed / dropped because decoding lagged
        self.datagrams = 0
        self.malformed = 0
        self.dropped = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._backlog: collections.deque[bytes] = collections.deque()
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

    def wait_for(self, count: int, timeout: float = 5.0) -> List[SpanData]:
        """The spans received, once there are ``count`` or at the timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.spans) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self.spans)

    def wait_quiet(self, quiet: float = 0.3,
                   timeout: float = 5.0) -> List[SpanData]:
        """The spans received once no datagram arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        seen, since = self.handled, time.monotonic()
        while time.monotonic() < deadline:
            with self._changed:
                self._changed.wait(min(quiet, 0.05))
                count = self.handled
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return list(self.spans)

    @property
    def handled(self) -> int:
        """Datagrams decoded or found malformed so far."""
        return self.datagrams + self.malformed

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            if len(self._backlog) >= self._max_backlog:
                self.dropped += 1
                continue
            self._backlog.append(data)
            self._arrived.set()

    def _decode(self) -> None:
        while True:
            self._arrived.wait()
            self._arrived.clear()
            while self._backlog:
                data = self._backlog.popleft()
                try:
                    spans = decode_datagram(data)
                except ValueError:
                    with self._changed:
                        self.malformed += 1
                        self._changed.notify_all()
                    continue
                if self._on_spans is not None:
                    self._on_spans(spans)
                with self._changed:
                    self.datagrams += 1
                    if self._keep:
                        self.raw.append(data)
                    if self._on_spans is None:
                        self.spans.extend(spans)
                    self._changed.notify_all()
            if self._stop.is_set():
                return
