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

The socket's receive buffer is made as large as the system allows (16 MiB
asked; Linux caps it at ``net.core.rmem_max``, doubled, unless the process
may force it), and the datagrams the kernel still dropped because it was
full are counted (:attr:`AgentReceiver.kernel_dropped`): on Linux, from
``SO_RXQ_OVFL`` (the count the kernel attaches to each datagram, as it
stood when that one was queued) and from ``/proc/net/udp``'s ``drops``
column for this socket, which also sees the drops of a burst's end.

>>> with AgentReceiver() as agent:            # a free port on 127.0.0.1
...     port = agent.port                     # point tracing_port here
...     spans = agent.wait_for(count=5, timeout=0.1)
>>> spans                                     # nothing was sent
[]
"""
import collections
import os
import socket
import struct
import threading
import time
from typing import Any, Callable, List, Optional

from chaostracing._data.model import SpanData
from chaostracing._jaeger.decode import decode_emit_batch

__all__ = ["AgentReceiver", "decode_datagram"]

#: receive buffer asked for
RECEIVE_BUFFER = 16 << 20
# Linux's socket options (Python names neither): the drop count on each
# datagram; a buffer size above net.core.rmem_max (CAP_NET_ADMIN)
_SO_RXQ_OVFL = 40
_SO_RCVBUFFORCE = 33


def decode_datagram(data: bytes) -> List[SpanData]:
    """Decode one ``emitBatch`` datagram (compact, else binary protocol).

    :raises ValueError: when the datagram is not such a message.
    """
    return decode_emit_batch(data)


class AgentReceiver:
    """Listen for Jaeger agent datagrams on a UDP port, in threads.

    :param on_spans: called (on the decoding thread) with the spans of each
        datagram, and its size when ``with_size``; by default they are
        appended to :attr:`spans`
    :param keep_datagrams: keep every raw datagram in :attr:`raw` (tests
        check bytes on the wire; the collector does not keep them)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        on_spans: Optional[Callable[..., Any]] = None,
        keep_datagrams: bool = False,
        max_backlog: int = 20_000,
        with_size: bool = False,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        #: the receive buffer's size, as the kernel gave it
        self.receive_buffer = _enlarge_buffer(self._sock)
        self._overflow = _count_overflows(self._sock)
        self._sock.bind((host, port))
        # stop() wakes the receiving thread with a datagram; the timeout is
        # only a fallback for when that cannot be sent
        self._sock.settimeout(1.0)
        self.host = host
        self.port = self._sock.getsockname()[1]
        self.spans: List[SpanData] = []
        self.raw: List[bytes] = []
        self._keep = keep_datagrams
        self._on_spans = on_spans
        self._with_size = with_size
        self._max_backlog = max_backlog
        #: datagrams decoded / malformed / dropped because decoding lagged
        self.datagrams = 0
        self.malformed = 0
        self.dropped = 0
        self._kernel_seen = 0
        self._kernel_final: Optional[int] = None
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
        if self._stop.is_set():
            return
        self._stop.set()
        self._arrived.set()
        if self._threads[0].is_alive():
            self._wake()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=2)
        self._kernel_final = self.kernel_dropped
        self._sock.close()

    @property
    def kernel_dropped(self) -> int:
        """Datagrams the kernel dropped, its receive buffer being full."""
        if self._kernel_final is not None:
            return self._kernel_final
        return max(self._kernel_seen, _proc_drops(self._sock) or 0)

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

    def _wake(self) -> None:
        """Unblock the receiving thread: an empty datagram to ourselves."""
        host, port = self._sock.getsockname()[:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        try:
            with socket.socket(self._sock.family, socket.SOCK_DGRAM) as wake:
                wake.sendto(b"", (host, port))
        except OSError:
            pass  # the socket's timeout ends the wait instead

    def _receive(self) -> None:
        space = socket.CMSG_SPACE(4) if self._overflow else 0
        while not self._stop.is_set():
            try:
                if space:
                    data, ancillary, _, _ = self._sock.recvmsg(65535, space)
                    for level, kind, value in ancillary:
                        if level == socket.SOL_SOCKET and \
                                kind == _SO_RXQ_OVFL and len(value) >= 4:
                            count = struct.unpack("=I", value[:4])[0]
                            self._kernel_seen = max(self._kernel_seen, count)
                else:
                    data = self._sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            if self._stop.is_set():
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
                    if self._with_size:
                        self._on_spans(spans, len(data))
                    else:
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


def _enlarge_buffer(sock: socket.socket) -> int:
    """Ask for :data:`RECEIVE_BUFFER` (forced where the process may), and
    return what the kernel gave."""
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
            break
        except OSError:  # not allowed (an ordinary user), or not Linux
            continue
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def _count_overflows(sock: socket.socket) -> bool:
    """Ask the kernel to attach its drop count to each datagram (Linux)."""
    if not hasattr(sock, "recvmsg"):
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RXQ_OVFL, 1)
    except OSError:
        return False
    return True


def _proc_drops(sock: socket.socket) -> Optional[int]:
    """The ``drops`` column of ``/proc/net/udp`` (or ``udp6``) for
    ``sock``, found by its inode; ``None`` where there is none."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except (OSError, ValueError):
        return None
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as lines:
                next(lines, None)  # the header
                for line in lines:
                    fields = line.split()
                    if len(fields) >= 13 and fields[9] == inode:
                        return int(fields[12])
        except (OSError, ValueError):
            continue
    return None
