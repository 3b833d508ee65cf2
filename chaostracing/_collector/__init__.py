"""``chaostracing collect``: a small back-end on one machine.

Receivers → a bounded store → a Jaeger JSON file and Jaeger's query API.
It receives what the services under test send, so a run's trace (the
``file`` provider's output) and theirs can be seen as one:

- Jaeger agent datagrams over UDP (Thrift compact or binary), as on 6831;
- OTLP over HTTP, ``POST /v1/traces`` (protobuf or JSON, gzip or not), as on
  4318 (needs opentelemetry-proto, the ``[opentelemetry]`` extra);

and answers, as on 16686, Jaeger's HTTP query API (``/api/services``,
``/api/traces``...: what :mod:`chaostracing.probes` and Jaeger's tools ask)
and an HTML page per trace (:mod:`chaostracing._collector.query`).

Memory is bounded: at most ``max_spans`` spans are stored (the oldest traces
are evicted beyond, and counted), raw datagrams are never kept, and the
queue between the UDP socket and the decoder is bounded too. The output file
is written atomically while spans arrive, at an interval that grows with
the time a write takes (a store of 100,000 spans is not rewritten every
second), and when the collector stops.
"""
import threading
import time
from typing import Any, List, Optional

from chaostracing._collector.agent import AgentReceiver
from chaostracing._collector.store import SpanStore
from chaostracing._data.model import SpanData

__all__ = ["Collector", "SpanStore"]


class Collector:
    """Receivers feeding one store, and the file written from it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        udp_port: Optional[int] = 6831,
        otlp_port: Optional[int] = 4318,
        output: Optional[str] = None,
        max_spans: int = 200_000,
        query_port: Optional[int] = None,
    ) -> None:
        self.host = host
        self.output = output
        self.store = SpanStore(max_spans)
        self.agent: Optional[AgentReceiver] = None
        self.otlp: Any = None
        self.otlp_port: Optional[int] = None
        #: why OTLP is not received, when it is not
        self.otlp_problem: Optional[str] = None
        self.query: Any = None
        self.query_port: Optional[int] = None
        self._serving = False
        try:
            if udp_port is not None:
                try:
                    self.agent = AgentReceiver(host, udp_port,
                                               on_spans=self._add)
                except OSError as error:
                    raise OSError(error.errno, f"cannot listen on {host}:"
                                  f"{udp_port} (--port, UDP): "
                                  f"{error.strerror or error}") from None
            if otlp_port is not None:
                from chaostracing._data.otlp import decoder_problem

                # refused at start, in one line, rather than on each request
                self.otlp_problem = decoder_problem()
                if self.otlp_problem is None:
                    from chaostracing._collector.otlp import make_server

                    self.otlp, self.otlp_port = make_server(host, otlp_port,
                                                            self._add)
            if query_port is not None:
                from chaostracing._collector.query import (
                    make_server as query_server,
                )

                self.query, self.query_port = query_server(host, query_port,
                                                           self.store)
        except BaseException:
            self.stop()  # what was bound is released
            raise
        self._threads: List[threading.Thread] = []
        self._written_generation = -1
        self._last_write = 0.0
        self._write_took = 0.0
        self.written = 0

    @property
    def udp_port(self) -> Optional[int]:
        return self.agent.port if self.agent is not None else None

    def start(self) -> "Collector":
        self._serving = True
        if self.agent is not None:
            self.agent.start()
        for name, server in (("otlp", self.otlp), ("query", self.query)):
            if server is not None:
                thread = threading.Thread(target=server.serve_forever,
                                          args=(0.1,),
                                          name=f"chaostracing-{name}",
                                          daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self.otlp, self.query):
            if server is not None:
                if self._serving:  # shutdown() waits for serve_forever
                    server.shutdown()
                server.server_close()
        if self.agent is not None:
            self.agent.stop()

    def __enter__(self) -> "Collector":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def write(self, force: bool = False) -> bool:
        """Write the output file if spans arrived since, and not too often
        (``force``: whenever anything changed). :return: whether written."""
        from chaostracing._data.jaegerjson import dumps, write_atomic

        generation = self.store.generation
        if self.output is None or generation == self._written_generation:
            return False
        now = time.monotonic()
        wait = max(1.0, 5 * self._write_took)
        if not force and now - self._last_write < wait:
            return False
        spans = self.store.spans()
        write_atomic(self.output, dumps(spans))
        self._written_generation = generation
        self._last_write = time.monotonic()
        self._write_took = self._last_write - now
        self.written = len(spans)
        return True

    def summary(self) -> str:
        """What happened, for the line printed when it stops."""
        parts = [f"{self.written} span(s) written to {self.output}"
                 if self.output else f"{len(self.store)} span(s) stored"]
        if self.agent is not None and self.agent.malformed:
            parts.append(
                f"{self.agent.malformed} malformed datagram(s) skipped")
        if self.agent is not None and self.agent.dropped:
            parts.append(f"{self.agent.dropped} datagram(s) dropped while "
                         "decoding lagged")
        if self.otlp is not None and self.otlp.counters["refused"]:
            parts.append(f"{self.otlp.counters['refused']} OTLP request(s) "
                         "refused")
        if self.store.dropped:
            parts.append(f"{self.store.dropped} span(s) dropped (oldest "
                         f"traces, over --max-spans {self.store.max_spans})")
        return ", ".join(parts)

    def _add(self, spans: List[SpanData]) -> int:
        before = self.store.dropped
        self.store.add(spans)
        return self.store.dropped - before
