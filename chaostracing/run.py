"""The span lifecycle of one traced ``chaos run``.

:class:`TracedRun` opens a span when chaoslib enters a level and finishes
that same span when it leaves it. Open spans are kept in a registry keyed by
``(level, id(context), thread)``: chaoslib hands the same dict to ``before``
and ``after``, on the same thread, while background activities and the
continuous hypothesis run on other threads at the same time. Nothing is ever
paired by "whatever span is active".

Which phase an activity belongs to comes from the context variable set when
the phase began on this thread (hypothesis, method or rollback), else, on a
pool thread without a copy of the context, from the phase open run-wide
(background activities only exist in the method and the rollbacks).
"""
import contextvars
import logging
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import opentracing
from opentracing import Format, follows_from

from chaostracing import context as ctx
from chaostracing.config import TracingConfig
from chaostracing.providers import Backend
from chaostracing.redact import Redactor, to_tag_value

__all__ = ["TracedRun", "incoming_context"]
logger = logging.getLogger("chaostoolkit")

_PHASES = ("hypothesis", "method", "rollback")
#: the open phase (hypothesis, method, rollback) of the calling context
_phase: contextvars.ContextVar = contextvars.ContextVar(
    "chaostracing_phase_span", default=None
)
_FAILED_STATUSES = ("failed", "aborted", "interrupted")


class _Open:
    """An open span and what must be undone when it finishes."""

    __slots__ = ("span", "level", "tokens", "pending", "finished_at")

    def __init__(self, span: opentracing.Span, level: str) -> None:
        self.span = span
        self.level = level
        self.tokens: List[Tuple[Any, Any]] = []
        #: probe spans of a hypothesis, finished with it (tolerance is
        #: known only once chaoslib has checked it, after the activity ends)
        self.pending: List["_Open"] = []
        self.finished_at: Optional[float] = None


class TracedRun:
    """One experiment run's spans, from ``configure`` to ``cleanup``."""

    def __init__(
        self,
        backend: Backend,
        config: TracingConfig,
        redactor: Redactor,
        incoming: Optional[opentracing.SpanContext] = None,
    ) -> None:
        self.backend = backend
        self.config = config
        self.redactor = redactor
        self.proxy = ctx.TracerProxy(backend.tracer)
        self._registry: Dict[Tuple[str, int, int], _Open] = {}
        self._lock = threading.Lock()
        self._root: Optional[opentracing.Span] = None
        #: a trace to join, handed in by the environment (a CI pipeline)
        self.incoming = incoming
        self._method_done = False
        # configure_control runs on the thread that runs the experiment
        self._main_thread = threading.get_ident()
        #: set after an internal error: later hooks do nothing
        self.disabled = False
        #: whether this run turned the requests instrumentation on
        self.instrumented_requests = False
        #: why the run stopped early, as chaoslib's events tell it
        self.interrupted_by: Optional[str] = None
        self._iterations = 0
        self.trace_id: Optional[str] = None

    # -- opening and closing --------------------------------------------------
    def begin(self, level: str, context: Any) -> None:
        key = (level, id(context), threading.get_ident())
        with self._lock:
            if key in self._registry:
                # the control is declared twice (global and experiment):
                # the first declaration owns the span
                return
        parent, references = self._parent_for(level)
        tags = {"chaostoolkit.type": level}
        tags.update(_describe(level, context))
        span = self.proxy.wrapped.start_span(
            operation_name=_operation_name(level, context),
            child_of=parent,
            references=references,
            tags=tags,
            ignore_active_span=True,
        )
        entry = _Open(span, level)
        var = ctx.level_var(level)
        entry.tokens.append((var, var.set(span)))
        if level in _PHASES:
            entry.tokens.append((_phase, _phase.set(entry)))
        if level == "activity":
            entry.tokens.append((ctx._current, ctx._current.set(span)))
        with self._lock:
            self._registry[key] = entry
            if self._root is None:
                self._root = self.proxy._root = span
                self.trace_id = _trace_id_of(self.proxy.wrapped, span)
                logger.info(
                    "chaostracing: trace id %s%s",
                    self.trace_id,
                    f" ({self.trace_url})" if self.trace_url else "",
                )
        self.proxy._opened(level, span)

    def end(self, level: str, context: Any, state: Any) -> None:
        key = (level, id(context), threading.get_ident())
        with self._lock:
            entry = self._registry.pop(key, None)
        if entry is None:
            return
        for var, token in reversed(entry.tokens):
            var.reset(token)
        self.proxy._closed(level, entry.span)
        if level == "method":
            self._method_done = True
        _record(entry.span, level, state, self.config.max_tag_length)
        phase = _phase.get()
        if level == "activity" and phase is not None and phase.level == "hypothesis":
            # a probe: finished with its hypothesis, once tolerance is known
            entry.finished_at = time.time()
            phase.pending.append(entry)
            return
        if level == "hypothesis":
            self._finish_probes(entry, state)
        if level == "experiment":
            if self.interrupted_by:
                entry.span.set_tag(
                    "chaostoolkit.interrupted_by", self.interrupted_by
                )
            if isinstance(state, dict):
                _add_to_journal(state, self.journal_entry())
        entry.span.finish()

    def journal_entry(self) -> Dict[str, Any]:
        """What the journal records of the trace (its ``extensions`` list)."""
        entry: Dict[str, Any] = {
            "name": "chaostracing",
            "trace_id": self.trace_id,
            "provider": self.config.provider,
            "destination": self.backend.description,
        }
        if self.trace_url:
            entry["trace_url"] = self.trace_url
        return entry

    @property
    def trace_url(self) -> Optional[str]:
        if self.config.ui_url and self.trace_id:
            return f"{self.config.ui_url}/trace/{self.trace_id}"
        return None

    def finish_all(self, reason: str) -> int:
        """Finish every span still open (the run was cut short)."""
        with self._lock:
            entries = list(self._registry.values())
            self._registry.clear()
        # innermost first, so that children end before their parents
        order = {lv: i for i, lv in enumerate(reversed(ctx.LEVELS))}
        entries.sort(key=lambda e: order[e.level])
        for entry in entries:
            self.proxy._closed(entry.level, entry.span)
            for probe in entry.pending:
                probe.span.finish(finish_time=probe.finished_at)
            entry.span.set_tag("chaostoolkit.status", reason)
            entry.span.set_tag("error", True)
            entry.span.finish()
        return len(entries)

    # -- internals ------------------------------------------------------------
    def _parent_for(self, level: str):
        proxy = self.proxy
        parent = None
        if level in _PHASES:
            parent = proxy._open_span("experiment")
        elif level == "activity":
            phase = _phase.get()
            parent = phase.span if phase is not None else None
            if parent is None:
                parent = _latest(
                    proxy._open_span("method"), proxy._open_span("rollback")
                )
            if parent is None:
                parent = proxy._open_span("experiment")
        if parent is None and self._root is None and self.incoming is not None:
            return self.incoming, None
        if parent is None and self._root is not None:
            # a control declared on a hypothesis or an activity only: keep
            # every span of the run in one trace
            return None, [follows_from(self._root.context)]
        return parent, None

    def _finish_probes(self, entry: _Open, state: Any) -> None:
        runs = state.get("probes", []) if isinstance(state, Mapping) else []
        for index, probe in enumerate(entry.pending):
            if index < len(runs) and "tolerance_met" in runs[index]:
                met = bool(runs[index]["tolerance_met"])
                probe.span.set_tag("chaostoolkit.tolerance_met", met)
                if not met:
                    probe.span.set_tag("error", True)
            probe.span.finish(finish_time=probe.finished_at)
        entry.pending.clear()
        # chaoslib runs the continuous hypothesis on a pool thread, the
        # before and after ones on the thread that runs the experiment
        if threading.get_ident() != self._main_thread:
            phase = "during"
        else:
            phase = "after" if self._method_done else "before"
        entry.span.set_tag("chaostoolkit.hypothesis.phase", phase)
        if phase == "during":
            with self._lock:
                self._iterations += 1
                iteration = self._iterations
            entry.span.set_tag("chaostoolkit.hypothesis.iteration", iteration)


def incoming_context(
    tracer: opentracing.Tracer, environ: Mapping[str, str]
) -> Optional[opentracing.SpanContext]:
    """The trace context a CI pipeline handed the run in its environment.

    ``TRACEPARENT`` (and ``TRACESTATE``) as the W3C proposes for environment
    variables, or ``UBER_TRACE_ID`` (also read as ``uber-trace-id``).

    :raises opentracing.SpanContextCorruptedException: when it is malformed.
    """
    carrier = {}
    if environ.get("TRACEPARENT"):
        carrier["traceparent"] = environ["TRACEPARENT"]
        if environ.get("TRACESTATE"):
            carrier["tracestate"] = environ["TRACESTATE"]
    for name in ("UBER_TRACE_ID", "uber-trace-id"):
        if environ.get(name):
            carrier["uber-trace-id"] = environ[name]
            break
    if not carrier:
        return None
    return tracer.extract(Format.TEXT_MAP, carrier)


def _add_to_journal(journal: Dict[str, Any], entry: Dict[str, Any]) -> None:
    extensions = journal.get("extensions")
    if not isinstance(extensions, list):
        extensions = journal["extensions"] = []
    extensions[:] = [
        e for e in extensions
        if not (isinstance(e, dict) and e.get("name") == "chaostracing")
    ]
    extensions.append(entry)


def _latest(*spans: Optional[opentracing.Span]) -> Optional[opentracing.Span]:
    live = [s for s in spans if s is not None]
    if not live:
        return None
    return max(live, key=lambda s: getattr(s, "start_time", 0) or 0)


def _trace_id_of(tracer: opentracing.Tracer, span: opentracing.Span) -> str:
    context = span.context
    if hasattr(context, "unwrap"):  # OpenTelemetry's shim
        return format(context.unwrap().trace_id, "032x")
    trace_id = getattr(context, "trace_id", None)
    if isinstance(trace_id, int):
        return format(trace_id, "032x" if trace_id >> 64 else "016x")
    carrier: Dict[str, str] = {}
    try:
        tracer.inject(span.context, Format.TEXT_MAP, carrier)
    except Exception:
        return ""
    return next(iter(carrier.values()), "")


def _operation_name(level: str, context: Any) -> str:
    if level == "method":
        return "Method"
    if level == "rollback":
        return "Rollbacks"
    if isinstance(context, Mapping):
        name = context.get("title") or context.get("name")
        if isinstance(name, str) and name:
            return name
    return level


def _describe(level: str, context: Any) -> Dict[str, Any]:
    if not isinstance(context, Mapping):
        return {}
    if level == "experiment":
        tags = {}
        if isinstance(context.get("title"), str):
            tags["chaostoolkit.experiment.title"] = context["title"]
        return tags
    if level != "activity":
        return {}
    tags: Dict[str, Any] = {}
    for key, tag in (("type", "activity.type"), ("name", "activity.name")):
        if isinstance(context.get(key), str):
            tags[f"chaostoolkit.{tag}"] = context[key]
    if context.get("background"):
        tags["chaostoolkit.activity.background"] = True
    provider = context.get("provider")
    if isinstance(provider, Mapping):
        # only where the code lives: never the arguments (they may hold
        # secrets chaoslib substitutes at call time)
        for key in ("type", "module", "func", "url", "path"):
            value = provider.get(key)
            if isinstance(value, str):
                tags[f"chaostoolkit.provider.{key}"] = value
    return tags


def _record(span: opentracing.Span, level: str, state: Any, limit: int):
    """Tag ``span`` with the outcome chaoslib handed the ``after`` hook."""
    if level == "activity" and state is None:
        # chaoslib leaves the state unset when the activity was cut short
        # (Ctrl-C, a signal, an interrupting control)
        span.set_tag("chaostoolkit.status", "interrupted")
        span.set_tag("error", True)
    elif level == "activity" and isinstance(state, Mapping):
        status = state.get("status")
        if isinstance(status, str):
            span.set_tag("chaostoolkit.status", status)
        if "output" in state:
            output = to_tag_value(state.get("output"), limit)
            if output is not None:
                span.set_tag("chaostoolkit.output", output)
        if status == "failed":
            _log_error(span, state.get("exception"))
    elif level == "hypothesis" and isinstance(state, Mapping):
        met = state.get("steady_state_met")
        if met is not None:
            span.set_tag("chaostoolkit.steady_state_met", bool(met))
            if not met:
                span.set_tag("error", True)
    elif level in ("method", "rollback") and isinstance(state, list):
        failed = sum(
            1
            for run in state
            if isinstance(run, Mapping) and run.get("status") == "failed"
        )
        span.set_tag("chaostoolkit.activities", len(state))
        span.set_tag("chaostoolkit.activities.failed", failed)
    elif level == "experiment" and isinstance(state, Mapping):
        status = state.get("status")
        if isinstance(status, str):
            span.set_tag("chaostoolkit.status", status)
            if status in _FAILED_STATUSES:
                span.set_tag("error", True)
        if "deviated" in state:
            span.set_tag("chaostoolkit.deviated", bool(state["deviated"]))


def _log_error(span: opentracing.Span, exception: Any) -> None:
    span.set_tag("error", True)
    text = "".join(exception) if isinstance(exception, list) else str(exception)
    last = text.strip().splitlines()[-1] if text.strip() else "activity failed"
    kind, _, message = last.partition(": ")
    span.log_kv(
        {
            "event": "error",
            "error.kind": kind if message else "ActivityFailed",
            "message": message or last,
            "stack": text,
        }
    )
