"""From finished spans to a destination, off the traced thread.

Every provider is a :class:`Pipeline` in front of a :class:`Transport` (UDP
datagrams to a Jaeger agent, a JSON file, OTLP/HTTP):

- the traced code pays one ``deque.append`` per span (:meth:`report_span`);
- at most ``max_queue_size`` spans wait; beyond, new ones are dropped and
  counted;
- one daemon thread turns spans into :class:`~chaostracing._data.model.SpanData`
  through the run's :class:`~chaostracing._run.redact.Redactor` (the single
  place where secrets are masked and values cut) and hands batches to the
  transport;
- as OpenTelemetry's BatchSpanProcessor does, a problem with one span
  (a value that cannot be converted, an encoding error) drops and counts
  that span only; only :class:`TransportBroken` (the destination cannot be
  resolved or reached) stops sending, and :meth:`stats` says why;
- a span whose conversion does not finish in time (a tag value whose
  ``repr()`` never returns) is abandoned with the thread converting it:
  that span is counted as dropped, and a fresh thread goes on with the
  others (a thread cannot be stopped, only left behind);
- :meth:`flush` returns as soon as every span reported before the call has
  been handled, or at its deadline, never later; it never sleeps a fixed
  time.
"""
import collections
import logging
import threading
import time
from typing import (
    Any,
    Callable,
    Dict,
    List,
    NamedTuple,
    Optional,
    Tuple,
    Union,
    cast,
)

from chaostracing._data.model import CHILD_OF, FOLLOWS_FROM, Process, SpanData
from chaostracing._run import safety, scope
from chaostracing._run.redact import Redactor
from chaostracing._run.spancontext import JaegerSpanContext

__all__ = ["Pipeline", "Stats", "Transport", "TransportBroken", "span_data"]
logger = logging.getLogger("chaostoolkit")

#: seconds one span's conversion may take before it is abandoned (a span
#: takes microseconds; a flush with less time left allows half of it)
CONVERT_TIMEOUT = 1.0


class Stats(NamedTuple):
    """What became of the spans reported to a pipeline."""

    sent: int
    dropped: int
    queued: int
    #: why spans could not be delivered, if they could not
    problem: Optional[str]


class TransportBroken(Exception):
    """The destination cannot be used (unresolvable, unreachable...).

    :param sent: spans of the current batch that did go out
    :param lost: spans counted as sent earlier that will never arrive (a
        transport that buffers, as the file provider's, fails at the end)
    """

    def __init__(self, reason: str, sent: int = 0, lost: int = 0) -> None:
        super().__init__(reason)
        self.sent = sent
        self.lost = lost


class Transport:
    """Where a pipeline delivers (subclasses implement :meth:`send`)."""

    #: a short human description ("Jaeger agent at 127.0.0.1:6831 (UDP)")
    description = "nowhere"

    def open(self, process: Process) -> None:
        """Called once, on the pipeline's thread, before the first batch.

        :raises TransportBroken: when the destination cannot be used.
        """

    def send(self, spans: List[SpanData]) -> int:
        """Deliver ``spans``; return how many went out (the rest are counted
        as dropped).

        :raises TransportBroken: when the destination cannot be used any
            more; spans not delivered by then are counted as dropped.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Called once, on the pipeline's thread, after the last batch."""

    def files(self) -> Dict[str, str]:
        """The files it writes, by the journal key that records each
        (``trace_file``, ``report``): those it means to write before it is
        closed, those it wrote after."""
        return {}


class Pipeline:
    """A reporter for :class:`chaostracing._run.tracer.Tracer`."""

    def __init__(
        self,
        transport: Transport,
        redactor: Redactor,
        process: Union[Process, Callable[[], Process]],
        max_queue_size: int = 100_000,
        flush_interval: float = 1.0,
        batch_trigger: int = 500,
        batch_size: int = 1000,
        convert_timeout: float = CONVERT_TIMEOUT,
    ) -> None:
        self.transport = transport
        self.redactor = redactor
        self.process = process
        self._max_queue = max_queue_size
        self._trigger = batch_trigger
        self._batch = batch_size
        self._interval = flush_interval
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._state = threading.Condition()
        self._requested = 0  # flush generation asked for
        self._served = 0  # flush generation fully handled
        self._closing = False
        self._broken: Optional[str] = None
        self._sent = 0
        self._dropped = 0
        self._count_lock = threading.Lock()
        self._convert_timeout = convert_timeout
        #: the worker thread's number: a worker whose number is no longer
        #: this one was abandoned, and touches nothing any more
        self._epoch = 0
        #: (epoch, when) of the conversion under way, or None
        self._converting: Optional[Tuple[int, float]] = None
        #: spans converted and not yet sent (a fresh worker sends them)
        self._pending: List[SpanData] = []
        self._thread = self._start_worker(0, opening=True)

    def _start_worker(self, epoch: int, opening: bool) -> threading.Thread:
        thread = threading.Thread(
            target=self._run, args=(epoch, opening),
            name="chaostracing-export", daemon=True)
        thread.start()
        return thread

    # -- reporter interface ---------------------------------------------------
    def report_span(self, span: Any) -> None:
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._count_dropped(1)
            return
        queue.append(span)
        if len(queue) == self._trigger:
            self._wake.set()
            self._rescue(self._convert_timeout)

    # -- our interface --------------------------------------------------------
    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until spans reported before this call are handled, or timeout.

        :return: ``True`` when every such span was handled (sent, or counted
            as dropped).
        """
        deadline = time.monotonic() + timeout
        limit = min(self._convert_timeout, max(timeout / 2, 0.01))
        with self._state:
            self._requested += 1
            wanted = self._requested
        self._wake.set()
        while True:
            with self._state:
                if self._served >= wanted:
                    return True
                now = time.monotonic()
                left = deadline - now
                if left <= 0 or not self._thread.is_alive():
                    return self._served >= wanted
                # wake when the conversion under way would be late (a
                # notify wakes this sooner, as soon as the spans are out)
                converting = self._converting
                started = now if converting is None else converting[1]
                left = min(left, max(started + limit - now, 0.0))
                if left > 0:
                    self._state.wait(left)
            self._rescue(limit)

    def close(self, timeout: float = 2.0) -> bool:
        """Flush within ``timeout`` seconds, then stop the thread."""
        started = time.monotonic()
        delivered = self.flush(timeout)
        with self._state:
            self._closing = True
        self._wake.set()
        self._thread.join(max(0.05, timeout - (time.monotonic() - started)))
        return delivered and not self._thread.is_alive()

    def stats(self) -> Stats:
        return Stats(self._sent, self._dropped,
                     len(self._queue) + len(self._pending), self._broken)

    def _rescue(self, limit: float) -> None:
        """Abandon the worker when its conversion of one span has taken
        longer than ``limit`` seconds; a fresh worker goes on."""
        converting = self._converting
        if converting is None or time.monotonic() - converting[1] < limit:
            return
        with self._state:
            if self._converting is not converting:
                return  # it finished meanwhile
            self._epoch += 1
            self._converting = None
            self._count_dropped(1)
            self._thread = self._start_worker(self._epoch, opening=False)
        safety.warn_once(
            "abandoned", "a span took more than %gs to convert (a tag value "
            "whose repr() does not return?): it is left out, the other spans "
            "go on", limit)

    # -- the pipeline's thread ------------------------------------------------
    def _run(self, epoch: int, opening: bool) -> None:
        scope.suppress_on_this_thread()  # our own traffic is never traced
        if opening:
            self._open()
        waiting = opening  # a fresh worker goes on at once
        while True:
            if waiting:
                self._wake.wait(self._interval)
            waiting = True
            self._wake.clear()
            with self._state:
                generation = self._requested
                closing = self._closing
            if not self._drain(epoch):
                return  # abandoned: a fresh worker has taken over
            if closing:
                self._close_transport()
            with self._state:
                self._served = max(self._served, generation)
                self._state.notify_all()
            if closing:
                return

    def _open(self) -> None:
        try:
            if callable(self.process):  # built here: it may look up DNS
                self.process = self.process()
            self.transport.open(self.process)
        except TransportBroken as error:
            self._fail(str(error))
        except Exception as error:  # a bug of ours: no span can go out
            safety.report_internal_error("open the trace destination", error)
            self._fail(f"internal error: {error!r}")

    def _close_transport(self) -> None:
        if self._broken is not None:
            return
        try:
            self.transport.close()
        except TransportBroken as error:
            lost = min(error.lost, self._sent)
            self._sent -= lost
            self._count_dropped(lost)
            self._fail(str(error))
        except Exception as error:
            safety.report_internal_error("close the trace destination", error)

    def _drain(self, epoch: int) -> bool:
        """Convert and send what is queued; ``False`` when this worker was
        abandoned meanwhile (it must then touch nothing)."""
        queue = self._queue
        pending = self._pending
        # built by _open before any span is converted
        process = cast(Process, self.process)
        state = self._state
        while queue or pending:
            if self._broken is not None:
                dropped = len(pending)
                del pending[:]
                while queue:
                    queue.popleft()
                    dropped += 1
                self._count_dropped(dropped)
                return True
            while len(pending) < self._batch:
                try:
                    span = queue.popleft()
                except IndexError:
                    break
                self._converting = (epoch, time.monotonic())
                try:
                    record: Optional[SpanData] = span_data(
                        span, self.redactor, process)
                except Exception as error:  # one bad span costs only itself
                    record = None
                    error_seen: Optional[Exception] = error
                else:
                    error_seen = None
                with state:
                    if epoch != self._epoch:
                        return False  # counted by _rescue
                    self._converting = None
                    if record is not None:
                        pending.append(record)
                if error_seen is not None:
                    self._count_dropped(1)
                    safety.report_internal_error("convert a span", error_seen)
            if not pending:
                continue
            records = list(pending)
            del pending[:]
            try:
                sent = self.transport.send(records)
            except TransportBroken as error:
                sent = error.sent
                self._fail(str(error))
            except Exception as error:  # never let the thread die
                sent = 0
                safety.report_internal_error("send spans", error)
            self._sent += sent
            self._count_dropped(len(records) - sent)
        return True

    def _count_dropped(self, count: int) -> None:
        if count > 0:
            with self._count_lock:
                self._dropped += count

    def _fail(self, reason: str) -> None:
        # said once, by whoever reads stats() at the end (the control)
        if self._broken is None:
            self._broken = reason


###############################################################################
# Our spans as SpanData
###############################################################################
def span_data(
    span: Any, redactor: Redactor, process: Optional[Process] = None
) -> SpanData:
    """A finished :class:`chaostracing._run.tracer.Span` as clean data.

    Every key, value and name passes ``redactor`` here (masked, then cut).
    """
    context = span.context
    parent = context.parent_id or 0
    references = []
    for ref in span.references or ():
        referenced = ref.referenced_context
        if not isinstance(referenced, JaegerSpanContext):
            continue
        kind = FOLLOWS_FROM if ref.type == "follows_from" else CHILD_OF
        if kind == CHILD_OF and referenced.span_id == parent:
            continue  # the parent itself
        references.append((kind, referenced.trace_id, referenced.span_id))
    start = _seconds(span.start_time, time.time())
    end = _seconds(span.end_time, start)
    return SpanData(
        trace_id=context.trace_id,
        span_id=context.span_id,
        parent_id=parent,
        flags=context.flags,
        operation_name=_name(span.operation_name, redactor),
        start_us=int(start * 1_000_000),
        duration_us=max(0, int((end - start) * 1_000_000)),
        references=references,
        tags=_fields(span.tags, redactor),
        logs=[
            (int(_seconds(timestamp, start) * 1_000_000),
             _fields(fields, redactor))
            for timestamp, fields in list(span.logs)
        ],
        process=process,
    )


def _fields(values: Any, redactor: Redactor) -> Dict[str, Any]:
    clean_key, clean_value = redactor.clean_key, redactor.clean_value
    out = {}
    for key, value in list(values.items()):
        key = clean_key(key)
        out[key] = clean_value(value, key)
    return out


def _name(name: Any, redactor: Redactor) -> str:
    """An operation name, whatever its type: as text (within the
    redactor's budget, never only ``max_length``), masked, then cut."""
    cleaned = redactor.clean_value(name)
    return cleaned if isinstance(cleaned, str) else str(cleaned)


def _seconds(value: Any, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 0 <= value < 1e11:  # a time in seconds since the epoch
            return float(value)
    return default
