"""Spans to a Jaeger agent over UDP, in datagrams of at most 65,000 bytes.

The transport of the ``jaeger`` provider's :class:`~chaostracing._run.pipeline.
Pipeline`. jaeger-client's own reporter runs on a tornado IOLoop whose
``close()`` can hang under tornado 6, and its default queue of 100 spans
silently drops most of a burst; this one runs on the pipeline's thread:

- the agent's host is resolved there, so a slow or failing DNS look-up
  never blocks the experiment; failing is :class:`TransportBroken`;
- each span is encoded on its own (a span that cannot be encoded costs only
  itself), trimmed when it is too big for one datagram, never dropped for
  its size;
- datagrams are packed by encoded size; a ``sendto`` error counts only the
  spans of that datagram and later ones.
"""
import errno
import socket
from typing import Any, List, Optional

from chaostracing._data.model import Process, SpanData
from chaostracing._jaeger.thrift import (
    encode_fitting,
    encode_process,
    pack_datagrams,
    span_budget,
)
from chaostracing._run import safety
from chaostracing._run.pipeline import Transport, TransportBroken

__all__ = ["UdpTransport"]


class UdpTransport(Transport):
    """``emitBatch`` datagrams to ``host:port`` (Thrift compact)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        where = f"[{host}]" if ":" in host else host
        self.description = f"Jaeger agent at {where}:{port} (UDP)"
        self._sock: Optional[socket.socket] = None
        self._address: Any = None
        self._process = b""
        self._budget = 0
        self._seq = 0
        #: datagrams handed to the socket
        self.datagrams = 0
        #: spans that had to be trimmed to fit a datagram
        self.trimmed = 0

    def open(self, process: Process) -> None:
        self._process = encode_process(process)
        self._budget = span_budget(self._process)
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_DGRAM
            )[0]
            self._sock = socket.socket(family, kind, proto)
        except OSError as error:
            raise TransportBroken(
                f"cannot resolve the Jaeger agent host {self.host!r} "
                f"(tracing_host): {error}"
            ) from None
        self._address = address

    def send(self, spans: List[SpanData]) -> int:
        sock = self._sock
        assert sock is not None, "the pipeline opens before it sends"
        encoded = []
        for record in spans:
            try:
                data, trimmed = encode_fitting(record, self._budget)
            except Exception as error:  # this span only
                safety.report_internal_error("encode a span", error)
                continue
            self.trimmed += trimmed
            encoded.append(data)
        sent = 0
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        for datagram, count in pack_datagrams(
            self._process, encoded, seq_id=self._seq
        ):
            try:
                sock.sendto(datagram, self._address)
            except OSError as error:
                # UDP gives no delivery receipt: an error here is the local
                # stack refusing the packet
                if error.errno == errno.EMSGSIZE:
                    safety.warn_once(
                        "udp-size",
                        "the network refused %d-byte datagrams to %s:%s "
                        "(%s); their spans are dropped",
                        len(datagram), self.host, self.port, error,
                    )
                    continue
                raise TransportBroken(
                    f"cannot send spans to the Jaeger agent at "
                    f"{self.host}:{self.port}: {error}",
                    sent=sent,
                ) from None
            self.datagrams += 1
            sent += count
        return sent

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
