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

Which phase a hypothesis run is (before, during, after the method) comes
from what chaoslib tells every control, whatever level it is declared at:
its run events (``start_hypothesis_before`` / ``_after``), and the thread
(the continuous hypothesis runs on a pool thread).

Values are recorded as chaoslib gives them; they are masked and cut on the
exporter's thread (:mod:`chaostracing._run.redact`), never here.
"""
import contextvars
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import opentracing
from opentracing import Format, follows_from

from chaostracing._data.tags import (
    CHAOSTOOLKIT_ACTIVITIES,
    CHAOSTOOLKIT_ACTIVITIES_FAILED,
    CHAOSTOOLKIT_ACTIVITY_BACKGROUND,
    CHAOSTOOLKIT_ACTIVITY_NAME,
    CHAOSTOOLKIT_ACTIVITY_TYPE,
    CHAOSTOOLKIT_DEVIATED,
    CHAOSTOOLKIT_EXPERIMENT_TITLE,
    CHAOSTOOLKIT_HYPOTHESIS_ITERATION,
    CHAOSTOOLKIT_HYPOTHESIS_PHASE,
    CHAOSTOOLKIT_INTERRUPTED_BY,
    CHAOSTOOLKIT_OUTPUT,
    CHAOSTOOLKIT_PROVIDER_FUNC,
    CHAOSTOOLKIT_PROVIDER_MODULE,
    CHAOSTOOLKIT_PROVIDER_PATH,
    CHAOSTOOLKIT_PROVIDER_TYPE,
    CHAOSTOOLKIT_PROVIDER_URL,
    CHAOSTOOLKIT_STATUS,
    CHAOSTOOLKIT_STEADY_STATE_MET,
    CHAOSTOOLKIT_TOLERANCE_MET,
    CHAOSTOOLKIT_TYPE,
    ERROR,
    ERROR_KIND,
    EVENT,
    EVENT_ERROR,
    MESSAGE,
    STACK,
)
from chaostracing._run import context as ctx
from chaostracing._run import safety
from chaostracing._run.config import TracingConfig
from chaostracing._run.providers import Backend
from chaostracing._run.redact import Redactor, sanitize_url

__all__ = ["TracedRun", "incoming_context", "recorded_output"]

_PHASES = ("hypothesis", "method", "rollback")
#: the open phase (hypothesis, method, rollback) of the calling context
_phase: "contextvars.ContextVar[Optional[_Open]]" = contextvars.ContextVar(
    "chaostracing_phase", default=None
)
_FAILED_STATUSES = ("failed", "aborted", "interrupted")
#: what chaoslib's ``http`` provider returns that must never be recorded
_HTTP_OUTPUT_HIDDEN = ("headers",)
#: what an activity's provider says of where its code lives, and its tags
_PROVIDER_TAGS = (("type", CHAOSTOOLKIT_PROVIDER_TYPE),
                  ("module", CHAOSTOOLKIT_PROVIDER_MODULE),
                  ("func", CHAOSTOOLKIT_PROVIDER_FUNC),
                  ("url", CHAOSTOOLKIT_PROVIDER_URL),
                  ("path", CHAOSTOOLKIT_PROVIDER_PATH))


class _Open:
    """An open span and what must be undone when it finishes."""

    __slots__ = ("entry", "level", "phase_token", "pending", "finished_at")

    def __init__(self, entry: ctx.Entry, level: str) -> None:
        self.entry = entry
        self.level = level
        self.phase_token: Any = None
        #: probe spans of a hypothesis, finished with it (tolerance is
        #: known only once chaoslib has checked it, after the activity ends)
        self.pending: List[_Open] = []
        self.finished_at: Optional[float] = None

    @property
    def span(self) -> opentracing.Span:
        return self.entry.span


class TracedRun:
    """One experiment run's spans, from ``configure`` to ``cleanup``."""

    def __init__(
        self,
        backend: Backend,
        config: TracingConfig,
        redactor: Redactor,
        incoming: Optional[opentracing.SpanContext] = None,
        compatibility: Any = None,
    ) -> None:
        self.backend = backend
        #: also records a former release's attributes (chaostracing.oltp:
        #: :data:`chaostracing._run.compat.ATTRIBUTES_0_18_1`)
        self.compatibility = compatibility
        self.config = config
        self.redactor = redactor
        self.proxy = ctx.TracerProxy(backend.tracer)
        self._registry: Dict[Tuple[str, int, int], _Open] = {}
        self._lock = threading.Lock()
        #: a trace to join, handed in by the environment (a CI pipeline)
        self.incoming = incoming
        # configure_control runs on the thread that runs the experiment
        self._main_thread = threading.get_ident()
        #: set after an internal error: later hooks do nothing
        self.disabled = False
        #: whether this run turned the requests instrumentation on
        self.instrumented_requests = False
        #: the post-import hook bridging OpenTelemetry's API, if waiting
        self.otel_hook: Any = None
        #: why the run stopped early, as chaoslib's events tell it
        self.interrupted_by: Optional[str] = None
        #: the hypothesis phase chaoslib announced last (its run events)
        self._announced: Optional[str] = None
        self._method_started = False
        self._iterations = 0
        self.trace_id: Optional[str] = None
        #: the journal's entry about the trace, completed at cleanup
        self.journal_record: Optional[Dict[str, Any]] = None

    # -- what chaoslib tells every control -------------------------------------
    def event(self, name: str) -> None:
        """A chaoslib run event (see ``chaoslib.run.RunEventHandler``)."""
        if name == "start_hypothesis_before":
            self._announced = "before"
        elif name == "start_hypothesis_after":
            self._announced = "after"
        elif name == "start_method":
            self._method_started = True
        elif name == "interrupted":
            self.interrupted_by = "InterruptExecution"
        elif name == "signal_exit":
            self.interrupted_by = "signal"
        root = self.proxy.root
        if self.compatibility is not None and root is not None:
            self.compatibility.event(root, name)

    # -- opening and closing --------------------------------------------------
    def begin(self, level: str, context: Any) -> None:
        key = (level, id(context), threading.get_ident())
        with self._lock:
            if key in self._registry:
                # the control is declared twice (global and experiment):
                # the first declaration owns the span
                return
        if level == "method":
            self._method_started = True
        if level == "activity" and _provider_type(context) == "process":
            from chaostracing._run import processes  # child processes join

            processes.patch()
        parent, references = self._parent_for(level)
        tags = {CHAOSTOOLKIT_TYPE: level}
        tags.update(_describe(level, context))
        if level == "hypothesis":
            tags.update(self._hypothesis_phase())
        if self.compatibility is not None:
            tags.update(self.compatibility.begin(level, context, tags))
        span = self.proxy.wrapped.start_span(
            operation_name=_operation_name(level, context),
            child_of=parent,
            references=references,
            tags=tags,
            ignore_active_span=True,
        )
        entry = self.proxy.enter(level, span, current=level == "activity")
        record = _Open(entry, level)
        if level in _PHASES:
            record.phase_token = _phase.set(record)
        with self._lock:
            self._registry[key] = record
            first = self.trace_id is None
            if first:
                self.trace_id = self.backend.trace_id(span)
        if first:
            safety.log_info(
                "trace id %s%s",
                self.trace_id,
                f" ({self.trace_url})" if self.trace_url else "",
            )

    def end(self, level: str, context: Any, state: Any) -> None:
        key = (level, id(context), threading.get_ident())
        with self._lock:
            record = self._registry.pop(key, None)
        if record is None:
            return
        if record.phase_token is not None:
            try:
                _phase.reset(record.phase_token)
            except ValueError:
                pass  # ended from another context: nothing to undo there
        self.proxy.leave(record.entry)
        span = record.span
        _record(span, level, context, state)
        if self.compatibility is not None:
            self.compatibility.end(span, level, context, state)
        phase = _phase.get()
        if (level == "activity" and phase is not None
                and phase.level == "hypothesis"):
            # a probe: finished with its hypothesis, once tolerance is known
            record.finished_at = time.time()
            phase.pending.append(record)
            return
        if level == "hypothesis":
            _finish_probes(record, state)
        if level == "experiment":
            if self.interrupted_by:
                span.set_tag(CHAOSTOOLKIT_INTERRUPTED_BY, self.interrupted_by)
            if isinstance(state, dict):
                self.journal_record = self.journal_entry()
                _add_to_journal(state, self.journal_record)
        span.finish()

    def journal_entry(self) -> Dict[str, Any]:
        """What the journal records of the trace (its ``extensions`` list)."""
        entry: Dict[str, Any] = {
            "name": "chaostracing",
            "trace_id": self.trace_id,
            "provider": self.config.provider,
            "destination": self.backend.description,
        }
        # where show and report find the trace of this journal
        entry.update(self.backend.files())
        if self.trace_url:
            entry["trace_url"] = self.trace_url
        return entry

    @property
    def trace_url(self) -> Optional[str]:
        if self.config.ui_url and self.trace_id:
            return sanitize_url(f"{self.config.ui_url}/trace/{self.trace_id}")
        return None

    def finish_all(self, reason: str) -> int:
        """Finish every span still open (the run was cut short)."""
        with self._lock:
            records = list(self._registry.values())
            self._registry.clear()
        # innermost first, so that children end before their parents
        order = {lv: i for i, lv in enumerate(reversed(ctx.LEVELS))}
        records.sort(key=lambda r: order[r.level])
        for record in records:
            self.proxy.leave(record.entry)
            for probe in record.pending:
                probe.span.finish(finish_time=probe.finished_at)
            record.span.set_tag(CHAOSTOOLKIT_STATUS, reason)
            record.span.set_tag(ERROR, True)
            record.span.finish()
        return len(records)

    # -- internals ------------------------------------------------------------
    def _hypothesis_phase(self) -> Dict[str, Any]:
        # chaoslib runs the continuous hypothesis on a pool thread, the
        # before and after ones on the thread that runs the experiment
        if threading.get_ident() != self._main_thread:
            with self._lock:
                self._iterations += 1
                iteration = self._iterations
            return {
                CHAOSTOOLKIT_HYPOTHESIS_PHASE: "during",
                CHAOSTOOLKIT_HYPOTHESIS_ITERATION: iteration,
            }
        phase = self._announced
        if phase is None:  # no events (hooks called by hand)
            phase = "after" if self._method_started else "before"
        return {CHAOSTOOLKIT_HYPOTHESIS_PHASE: phase}

    def _parent_for(self, level: str) -> Tuple[
            Any, Optional[List[opentracing.Reference]]]:
        proxy = self.proxy
        parent: Any = None
        if level in _PHASES:
            parent = proxy.innermost("experiment")
        elif level == "activity":
            phase = _phase.get()
            parent = phase.span if phase is not None else None
            if parent is None:
                parent = _latest(
                    proxy.innermost("method"), proxy.innermost("rollback")
                )
            if parent is None:
                parent = proxy.innermost("experiment")
        root = proxy.root
        if parent is None and root is None and self.incoming is not None:
            return self.incoming, None
        if parent is None and root is not None:
            # a control declared on a hypothesis or an activity only: keep
            # every span of the run in one trace
            return None, [follows_from(root.context)]
        return parent, None


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


def _finish_probes(record: _Open, state: Any) -> None:
    runs = state.get("probes", []) if isinstance(state, Mapping) else []
    for index, probe in enumerate(record.pending):
        run = runs[index] if index < len(runs) else None
        if isinstance(run, Mapping) and "tolerance_met" in run:
            met = bool(run["tolerance_met"])
            probe.span.set_tag(CHAOSTOOLKIT_TOLERANCE_MET, met)
            if not met:
                probe.span.set_tag(ERROR, True)
        probe.span.finish(finish_time=probe.finished_at)
    record.pending.clear()


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
    tags: Dict[str, Any] = {}
    if level == "experiment":
        if isinstance(context.get("title"), str):
            tags[CHAOSTOOLKIT_EXPERIMENT_TITLE] = context["title"]
        return tags
    if level != "activity":
        return {}
    for key, name in (("type", CHAOSTOOLKIT_ACTIVITY_TYPE),
                      ("name", CHAOSTOOLKIT_ACTIVITY_NAME)):
        if isinstance(context.get(key), str):
            tags[name] = context[key]
    if context.get("background"):
        tags[CHAOSTOOLKIT_ACTIVITY_BACKGROUND] = True
    provider = context.get("provider")
    if isinstance(provider, Mapping):
        # only where the code lives: never the arguments (they may hold
        # secrets chaoslib substitutes at call time)
        for key, name in _PROVIDER_TAGS:
            value = provider.get(key)
            if isinstance(value, str):
                tags[name] = value
    return tags


def _record(span: opentracing.Span, level: str, context: Any,
            state: Any) -> None:
    """Tag ``span`` with the outcome chaoslib handed the ``after`` hook."""
    if level == "activity" and state is None:
        # chaoslib leaves the state unset when the activity was cut short
        # (Ctrl-C, a signal, an interrupting control)
        span.set_tag(CHAOSTOOLKIT_STATUS, "interrupted")
        span.set_tag(ERROR, True)
    elif level == "activity" and isinstance(state, Mapping):
        status = state.get("status")
        if isinstance(status, str):
            span.set_tag(CHAOSTOOLKIT_STATUS, status)
        if "output" in state:
            span.set_tag(CHAOSTOOLKIT_OUTPUT,
                         recorded_output(context, state["output"]))
        if status == "failed":
            _log_error(span, state.get("exception"))
    elif level == "hypothesis" and isinstance(state, Mapping):
        met = state.get("steady_state_met")
        if met is not None:
            span.set_tag(CHAOSTOOLKIT_STEADY_STATE_MET, bool(met))
            if not met:
                span.set_tag(ERROR, True)
    elif level in ("method", "rollback") and isinstance(state, list):
        failed = sum(
            1
            for run in state
            if isinstance(run, Mapping) and run.get("status") == "failed"
        )
        span.set_tag(CHAOSTOOLKIT_ACTIVITIES, len(state))
        span.set_tag(CHAOSTOOLKIT_ACTIVITIES_FAILED, failed)
    elif level == "experiment" and isinstance(state, Mapping):
        status = state.get("status")
        if isinstance(status, str):
            span.set_tag(CHAOSTOOLKIT_STATUS, status)
            if status in _FAILED_STATUSES:
                span.set_tag(ERROR, True)
        if "deviated" in state:
            span.set_tag(CHAOSTOOLKIT_DEVIATED, bool(state["deviated"]))


def _provider_type(activity: Any) -> Any:
    provider = (activity.get("provider") if isinstance(activity, Mapping)
                else None)
    return provider.get("type") if isinstance(provider, Mapping) else None


def recorded_output(activity: Any, output: Any) -> Any:
    """The output to record: chaoslib's ``http`` provider returns the
    response headers (``Set-Cookie``, tokens...) with the status and body;
    they are left out."""
    provider = (activity.get("provider") if isinstance(activity, Mapping)
                else None)
    if (
        isinstance(provider, Mapping)
        and provider.get("type") == "http"
        and isinstance(output, Mapping)
    ):
        return {k: v for k, v in output.items() if k not in _HTTP_OUTPUT_HIDDEN}
    return output


def _log_error(span: opentracing.Span, exception: Any) -> None:
    span.set_tag(ERROR, True)
    if isinstance(exception, list):
        text = "".join(str(line) for line in exception)
    else:
        text = str(exception)
    last = text.strip().splitlines()[-1] if text.strip() else "activity failed"
    kind, _, message = last.partition(": ")
    span.log_kv(
        {
            EVENT: EVENT_ERROR,
            ERROR_KIND: kind if message else "ActivityFailed",
            MESSAGE: message or last,
            STACK: text,
        }
    )
