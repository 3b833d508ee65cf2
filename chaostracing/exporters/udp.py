"""Deliver finished spans to a Jaeger agent over UDP, from one daemon thread.

jaeger-client's own ``Reporter`` runs on a tornado IOLoop whose ``close()``
future can hang under tornado 6 when awaited with ``run_sync``, and its
default queue of 100 spans silently drops most of a burst. This sender:

- costs the traced code one ``deque.append`` per span (``report_span``);
- holds up to ``max_queue_size`` spans, then counts what it drops;
- encodes and sends on its own thread, in datagrams of at most 65,000 bytes;
- offers :meth:`flush` with a deadline: it returns as soon as every span
  reported before the call has been handed to the socket, or when the
  deadline passes, never later;
- resolves the agent's host on its thread, so a slow or failing DNS look-up
  never blocks the experiment, and reports a failure once.
"""
import collections
import logging
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from chaostracing.exporters.jaeger_thrift import (
    encode_process,
    encode_span,
    pack_datagrams,
    span_budget,
)
from chaostracing.exporters.records import from_span, trim_record
from chaostracing.redact import Redactor

__all__ = ["UdpSpanSender"]
logger = logging.getLogger("chaostoolkit")


class UdpSpanSender:
    """A reporter for :class:`chaostracing.tracer.Tracer`."""

    def __init__(
        self,
        host: str,
        port: int,
        redactor: Optional[Redactor] = None,
        max_queue_size: int = 100_000,
        flush_interval: float = 1.0,
        batch_trigger: int = 500,
        convert: Callable[[Any, Redactor], Any] = from_span,
    ) -> None:
        self.host, self.port = host, port
        self.redactor = redactor or Redactor()
        self._convert = convert
        self._max_queue = max_queue_size
        self._trigger = batch_trigger
        self._interval = flush_interval
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._state = threading.Condition()
        self._requested = 0  # flush generation asked for
        self._served = 0  # flush generation fully sent
        self._closing = False
        self._process = encode_process("chaostoolkit", [])
        self._sock: Optional[socket.socket] = None
        self._address: Any = None
        self._broken: Optional[str] = None
        self._seq = 0
        #: spans handed to the socket / dropped (queue full, agent unusable)
        self.sent = 0
        self.dropped = 0
        self.datagrams = 0
        self._thread = threading.Thread(
            target=self._run, name="chaostracing-udp", daemon=True
        )
        self._thread.start()

    # -- reporter interface ---------------------------------------------------
    def set_process(
        self, service_name: str, tags: Dict[str, Any], max_length: int = 0
    ) -> None:
        self._process = encode_process(
            service_name,
            [(str(k), v) for k, v in tags.items() if v is not None],
        )

    def report_span(self, span: Any) -> None:
        queue = self._queue
        if len(queue) >= self._max_queue:
            self.dropped += 1
            return
        queue.append(span)
        if len(queue) == self._trigger:
            self._wake.set()

    def close(self, timeout: float = 2.0) -> bool:
        """Flush within ``timeout`` seconds, then stop the thread."""
        delivered = self.flush(timeout)
        with self._state:
            self._closing = True
        self._wake.set()
        self._thread.join(timeout=0.2)
        return delivered

    # -- our interface ------------------------------------------------------
    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until spans reported before this call are sent, or timeout.

        :return: ``True`` when every such span went out (or was counted as
            dropped because the agent is unusable).
        """
        deadline = time.monotonic() + timeout
        with self._state:
            self._requested += 1
            wanted = self._requested
        self._wake.set()
        with self._state:
            while self._served < wanted:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._state.wait(left)
        return True

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def problem(self) -> Optional[str]:
        """Why spans could not be delivered, if they could not."""
        return self._broken

    # -- the sender thread --------------------------------------------------
    def _run(self) -> None:
        self._connect()
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._state:
                generation = self._requested
                closing = self._closing
            self._drain()
            with self._state:
                self._served = max(self._served, generation)
                self._state.notify_all()
            if closing:
                break
        if self._sock is not None:
            self._sock.close()

    def _connect(self) -> None:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_DGRAM
            )[0]
            self._sock = socket.socket(family, kind, proto)
            self._address = address
        except OSError as error:
            self._fail(
                f"cannot resolve the Jaeger agent host {self.host!r} "
                f"(tracing_host): {error}"
            )

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            spans: List[Any] = []
            try:
                while len(spans) < 1000:
                    spans.append(queue.popleft())
            except IndexError:
                pass
            if self._broken is not None:
                self.dropped += len(spans)
                continue
            try:
                self._send(spans)
            except Exception as error:  # never let the thread die
                self.dropped += len(spans)
                self._fail(f"could not encode or send spans: {error!r}")

    def _send(self, spans: List[Any]) -> None:
        budget = span_budget(self._process)
        encoded = []
        for span in spans:
            record = self._convert(span, self.redactor)
            data = encode_span(record)
            limit = 4096
            while len(data) > budget:
                record = trim_record(record, limit)
                if limit <= 16:
                    record = record._replace(logs=[], tags=record.tags[:64])
                data = encode_span(record)
                limit //= 4
            encoded.append(data)
        for datagram in pack_datagrams(self._process, encoded, seq_id=self._seq):
            self._seq += 1
            try:
                self._sock.sendto(datagram, self._address)
                self.datagrams += 1
            except OSError as error:
                # UDP gives no delivery receipt: an error here means the
                # local stack refused the packet (no route, too big...)
                self._fail(
                    f"cannot send spans to the Jaeger agent at "
                    f"{self.host}:{self.port}: {error}"
                )
                self.dropped += len(encoded)
                return
        self.sent += len(encoded)

    def _fail(self, reason: str) -> None:
        if self._broken is None:
            self._broken = reason
            logger.warning("chaostracing: %s; the run goes on untraced", reason)
