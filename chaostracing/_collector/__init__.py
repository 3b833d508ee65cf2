"""``chaostracing collect``: a small back-end on one machine.

Receivers → a bounded store → a Jaeger JSON file and Jaeger's query API.
It receives what the services under test send, so a run's trace (the
``file`` provider's output) and theirs can be seen as one:

- Jaeger agent datagrams over UDP (Thrift compact or binary), as on 6831;
- OTLP over HTTP, ``POST /v1/traces`` (protobuf or JSON, gzip or not,
  with a length or chunked), as on 4318;

and answers, as on 16686, Jaeger's HTTP query API (``/api/services``,
``/api/traces``...: what :mod:`chaostracing.probes` and Jaeger's tools ask)
and an HTML page per trace (:mod:`chaostracing._collector.query`).

The HTTP ports are served by aiohttp (:mod:`chaostracing._collector.http`,
the ``[collect]`` extra, with opentelemetry-proto for OTLP), in front of
plain endpoint functions with one routing table per port.

Memory is bounded: at most ``max_spans`` spans and about ``max_bytes``
bytes of them are stored (the oldest traces are evicted beyond, and
counted), values longer than 64 KiB are cut at ingest, raw datagrams are
never kept, the queue between the UDP socket and the decoder is bounded,
and so are the HTTP bodies held at once and the concurrent requests. The
output file is written atomically while spans arrive, at an interval that
grows with the time a write takes (a store of 100,000 spans is not
rewritten every second), and when the collector stops; it is written one
trace at a time. When it cannot be written (a full disk, a folder made
read-only), the collector says so once and tries again, and receiving and
answering go on: what was acknowledged is written once the file can be.
"""
import contextlib
import logging
import os
import stat
import tempfile
import time
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple

from chaostracing._collector.agent import AgentReceiver
from chaostracing._collector.store import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_SPANS,
    SpanStore,
)
from chaostracing._data.model import SpanData

__all__ = ["Collector", "SpanStore"]

logger = logging.getLogger("chaostoolkit")

#: seconds, by default: idle connections, slow requests (``--timeout``)
DEFAULT_TIMEOUT = 30.0


class Collector:
    """Receivers feeding one store, and the file written from it.

    A missing extra costs only what needs it: without aiohttp, the HTTP
    ports are not served (:attr:`http_problem` says why), without
    opentelemetry-proto, OTLP is not received (:attr:`otlp_problem`).

    :param warn: called with a message worth one line on the console (an
        output that cannot be written, a Host refused), from any thread
    :raises OSError: a port cannot be listened on (the option is named)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        udp_port: Optional[int] = 6831,
        otlp_port: Optional[int] = 4318,
        output: Optional[str] = None,
        max_spans: int = DEFAULT_MAX_SPANS,
        query_port: Optional[int] = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        allow_hosts: Iterable[str] = (),
        cors: Iterable[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        warn: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.host = host
        self.output = output
        self.store = SpanStore(max_spans, max_bytes)
        self.agent: Optional[AgentReceiver] = None
        self.http: Any = None
        self.otlp: Any = None
        self.otlp_port: Optional[int] = None
        #: why OTLP is not received / the HTTP ports are not served, when
        #: a port was asked and is not
        self.otlp_problem: Optional[str] = None
        self.http_problem: Optional[str] = None
        self.query: Any = None
        self.query_port: Optional[int] = None
        self._warn = warn or logger.warning
        try:
            if udp_port is not None:
                try:
                    self.agent = AgentReceiver(host, udp_port,
                                               on_spans=self._add_datagram,
                                               with_size=True)
                except OSError as error:
                    raise OSError(error.errno, f"cannot listen on {host}:"
                                  f"{udp_port} (--port, UDP): "
                                  f"{error.strerror or error}") from None
            if otlp_port is not None or query_port is not None:
                self._serve(host, otlp_port, query_port, allow_hosts, cors,
                            timeout)
        except BaseException:
            self.stop()  # what was bound is released
            raise
        self._written_generation = -1
        self._last_write = 0.0
        self._write_took = 0.0
        #: why the output cannot be written now, if it cannot
        self.write_problem: Optional[str] = None
        #: where the spans went when the output could not be written at the
        #: end
        self.fallback: Optional[str] = None
        self.written = 0

    def _serve(self, host: str, otlp_port: Optional[int],
               query_port: Optional[int], allow_hosts: Iterable[str],
               cors: Iterable[str], timeout: float) -> None:
        from chaostracing._collector import query
        from chaostracing._collector.http import (
            HostGuard,
            Limits,
            MissingExtra,
            Serving,
        )

        try:
            self.http = Serving(Limits(timeout=timeout),
                                HostGuard(host, allow_hosts, cors), self._warn)
        except MissingExtra as error:
            self.http_problem = str(error)
            return
        if otlp_port is not None:
            from chaostracing._data.otlp import decoder_problem

            # refused at start, in one line, rather than on each request
            self.otlp_problem = decoder_problem("collect")
            if self.otlp_problem is None:
                from chaostracing._collector import otlp

                self.otlp = otlp.site(self._add)
                self.otlp_port = self.http.bind(host, otlp_port, self.otlp)
        if query_port is not None:
            self.query = query.site(self.store)
            self.query_port = self.http.bind(host, query_port, self.query)

    @property
    def udp_port(self) -> Optional[int]:
        return self.agent.port if self.agent is not None else None

    def start(self) -> "Collector":
        if self.agent is not None:
            self.agent.start()
        if self.http is not None:
            self.http.start()
        return self

    def stop(self) -> None:
        if self.http is not None:
            self.http.stop()
        if self.agent is not None:
            self.agent.stop()

    def __enter__(self) -> "Collector":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def write(self, force: bool = False) -> bool:
        """Write the output file if spans arrived since, and not too often
        (``force``: whenever anything changed). A file that cannot be
        written is said once (``warn``) and tried again at the next call
        (once a second at most); the spans stay in the store meanwhile.

        :return: whether written
        """
        generation = self.store.generation
        if self.output is None or generation == self._written_generation:
            return False
        now = time.monotonic()
        wait = max(1.0, 5 * self._write_took)
        if not force and now - self._last_write < wait:
            return False
        traces = self.store.traces()
        try:
            _write(self.output, traces)
        except OSError as error:
            self._last_write = time.monotonic()
            if self.write_problem is None:
                self._warn(
                    f"cannot write {self.output} ({error.strerror or error}): "
                    "the spans stay in memory, receiving and answering go "
                    "on, and the file is written as soon as it can be")
            self.write_problem = str(error.strerror or error)
            return False
        if self.write_problem is not None:
            self._warn(f"{self.output} is written again")
            self.write_problem = None
        self._written_generation = generation
        self._last_write = time.monotonic()
        self._write_took = self._last_write - now
        self.written = sum(len(spans) for _, spans in traces)
        return True

    def write_elsewhere(self) -> Optional[str]:
        """When the output could not be written at the end: the spans into
        a new file of the temporary folder instead, of a name no one can
        guess, readable by its owner only (or as the output was, if
        stricter); its path (``None`` when that fails too)."""
        if self.output is None or self.write_problem is None:
            return None
        traces = self.store.traces()
        name = os.path.basename(self.output) or "chaostracing-trace.json"
        # a new file of ours (the temporary folder is shared: a name known
        # in advance may be taken, or made, by another user), no more
        # readable than the output was
        try:
            # what the output allowed, but always readable by its owner (a
            # write-only output would make an unreadable fallback)
            mode = (0o600 & stat.S_IMODE(os.stat(self.output).st_mode)
                    ) | stat.S_IRUSR
        except OSError:
            mode = 0o600
        path = None
        try:
            fd, path = tempfile.mkstemp(
                prefix=f"chaostracing-collect-{os.getpid()}-",
                suffix=f"-{name[:100]}")
            os.close(fd)
            os.chmod(path, mode | stat.S_IWUSR)  # ours to write, first
            _write(path, traces)  # it keeps the mode of the file there
            os.chmod(path, mode)
        except OSError:
            if path is not None:  # no empty file left behind
                with contextlib.suppress(OSError):
                    os.unlink(path)
            return None
        self.fallback = path
        return path

    def summary(self) -> str:
        """What happened, for the line printed when it stops."""
        if self.output is None:
            parts = [f"{len(self.store)} span(s) stored"]
        elif self.write_problem is None:
            parts = [f"{self.written} span(s) written to {self.output}"]
        else:
            parts = [f"{len(self.store)} span(s) NOT written to {self.output} "
                     f"({self.write_problem})"
                     + (f": written to {self.fallback} instead"
                        if self.fallback else "")]
        agent = self.agent
        if agent is not None and agent.malformed:
            parts.append(f"{agent.malformed} malformed datagram(s) skipped")
        if agent is not None and agent.dropped:
            parts.append(f"{agent.dropped} datagram(s) dropped while "
                         "decoding lagged")
        if agent is not None and agent.kernel_dropped:
            parts.append(f"{agent.kernel_dropped} datagram(s) dropped by the "
                         "kernel (its receive buffer of "
                         f"{agent.receive_buffer} bytes was full)")
        if self.otlp is not None and self.otlp.counters["refused"]:
            parts.append(f"{self.otlp.counters['refused']} OTLP request(s) "
                         "refused")
        if self.http is not None and self.http.guard.refused:
            parts.append(f"{self.http.guard.refused} request(s) refused for "
                         "their Host (421)")
        if self.http is not None and self.http.malformed:
            parts.append(f"{self.http.malformed} malformed HTTP request(s) "
                         "refused")
        if self.http is not None and self.http.busy:
            parts.append(f"{self.http.busy} connection(s) turned away (over "
                         f"{self.http.limits.max_connections} at once)")
        store = self.store
        if store.dropped - store.dropped_for_bytes:
            parts.append(f"{store.dropped - store.dropped_for_bytes} span(s) "
                         "dropped (oldest traces, over --max-spans "
                         f"{store.max_spans})")
        if store.dropped_for_bytes:
            parts.append(f"{store.dropped_for_bytes} span(s) dropped (oldest "
                         f"traces, over --max-bytes {store.max_bytes})")
        if store.malformed:
            parts.append(f"{store.malformed} span(s) refused (a time before "
                         "1970 or past the year 2554)")
        if store.values_cut:
            parts.append(f"{store.values_cut} value(s) cut to "
                         f"{store.max_value} characters")
        return ", ".join(parts)

    def _add(self, spans: List[SpanData]) -> int:
        """Store ``spans``; how many of them are not stored."""
        return self.store.ingest(spans)[1]

    def _add_datagram(self, spans: List[SpanData], size: int) -> None:
        # what a datagram holds is no longer than the datagram
        self.store.ingest(spans, wire=size)


def _write(path: str, traces: List[Tuple[int, List[SpanData]]]) -> None:
    """The Jaeger JSON file of ``traces``, written one trace at a time (a
    large store is never one string in memory)."""
    from chaostracing._data.jaegerjson import write_atomic

    write_atomic(path, _document(traces))


def _document(traces: List[Tuple[int, List[SpanData]]]) -> Iterator[str]:
    from chaostracing._data.jaegerjson import trace_json

    yield '{"data":['
    for number, (trace_id, spans) in enumerate(traces):
        yield ("," if number else "") + trace_json(trace_id, spans)
    yield "]}"
