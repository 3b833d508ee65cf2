"""The current span: one context variable, behind OpenTracing's ScopeManager.

Every tracer chaostracing installs (its own for every provider, and the
MockTracer of :mod:`chaostracing.testing`) uses :data:`SCOPE_MANAGER`, so
"the current span" has exactly one source: ``tracer.active_span``,
``chaostracing.current_span()``, ``@traced_activity``, the requests
instrumentation and the parent of a span started without one all read the
same context variable. Each thread and each asyncio task sees its own value.

When OpenTelemetry's API is bridged (:mod:`chaostracing._run.otel.bridge`), a
:class:`Mirror` keeps OpenTelemetry's current span in step with ours, so
spans made through either API nest correctly.
"""
import contextvars
from typing import Any, Optional

import opentracing

__all__ = [
    "SCOPE_MANAGER",
    "ActivatingTracer",
    "Mirror",
    "Scope",
    "ScopeManager",
    "active_span",
    "is_suppressed",
    "suppress_instrumentation",
    "suppress_on_this_thread",
]

_active: "contextvars.ContextVar[Optional[Scope]]" = contextvars.ContextVar(
    "chaostracing_active_scope", default=None
)


class Mirror:
    """Something else that must know the current span (OpenTelemetry)."""

    def attach(self, span: Optional[opentracing.Span]
               ) -> Any:  # pragma: no cover
        """Make ``span`` current there (None: no span is); return what
        :meth:`detach` needs."""
        raise NotImplementedError

    def detach(self, token: Any) -> None:  # pragma: no cover
        raise NotImplementedError

    def current(self, ours: Optional[opentracing.Span]) -> Optional[
            opentracing.Span]:  # pragma: no cover
        """The innermost span, given ours."""
        raise NotImplementedError


class Scope(opentracing.Scope):
    """An activation of a span; closing it restores the previous one."""

    __slots__ = ("_finish_on_close", "_previous", "_token", "_mirrored",
                 "_closed")

    def __init__(
        self,
        manager: "ScopeManager",
        span: Optional[opentracing.Span],
        finish_on_close: bool,
    ) -> None:
        # opentracing.Scope's own __init__ does only this
        self._manager = manager
        self._span = span
        self._finish_on_close = finish_on_close
        self._previous = _active.get()
        self._token = _active.set(self)
        mirror = manager.mirror
        self._mirrored = (mirror, mirror.attach(span)) if mirror else None
        self._closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            _active.reset(self._token)
        except ValueError:
            # closed from another context (a thread that did not copy the
            # context): undo what can be undone there; the mirror's context
            # is not this one's to touch
            if _active.get() is self:
                _active.set(self._previous)
        else:
            if self._mirrored is not None:
                mirror, token = self._mirrored
                mirror.detach(token)
        if self._finish_on_close and self._span is not None:
            self._span.finish()


class ScopeManager(opentracing.ScopeManager):
    """OpenTracing's ScopeManager on chaostracing's one context variable."""

    def __init__(self) -> None:
        super().__init__()
        #: set while OpenTelemetry's current span must follow ours
        self.mirror: Optional[Mirror] = None

    def activate(self, span: Optional[opentracing.Span],
                 finish_on_close: bool) -> Scope:
        # None is a span too here: it clears the current span in the block
        return Scope(self, span, finish_on_close)

    @property
    def active(self) -> Optional[opentracing.Scope]:
        scope = _active.get()
        mirror = self.mirror
        if mirror is not None:
            ours = scope.span if scope is not None else None
            span = mirror.current(ours)
            if span is not None and span is not ours:
                return _ForeignScope(self, span)
        return scope


class _ForeignScope(opentracing.Scope):
    """A span made current through the mirrored API (OpenTelemetry's
    ``use_span``): readable as the active scope; closing it is the job of
    whoever activated it."""

    def close(self) -> None:
        pass


#: the scope manager of every tracer chaostracing installs
SCOPE_MANAGER = ScopeManager()


class ActivatingTracer:
    """``start_active_span`` done right, for our tracer and the proxy
    (OpenTracing's base class returns a no-op scope: spans started that way
    were lost)."""

    def start_active_span(
        self,
        operation_name: str,
        child_of: Any = None,
        references: Any = None,
        tags: Any = None,
        start_time: Any = None,
        ignore_active_span: bool = False,
        finish_on_close: bool = True,
    ) -> opentracing.Scope:
        span = self.start_span(  # type: ignore[attr-defined]
            operation_name=operation_name,
            child_of=child_of,
            references=references,
            tags=tags,
            start_time=start_time,
            ignore_active_span=ignore_active_span,
        )
        manager = self.scope_manager  # type: ignore[attr-defined]
        scope: opentracing.Scope = manager.activate(span, finish_on_close)
        return scope


def active_span() -> Optional[opentracing.Span]:
    """The current span of the calling context, else ``None``."""
    scope = SCOPE_MANAGER.active
    return scope.span if scope is not None else None


###############################################################################
# Our own traffic
###############################################################################
_suppressed: "contextvars.ContextVar[bool]" = contextvars.ContextVar(
    "chaostracing_suppressed", default=False
)


class suppress_instrumentation:
    """Inside the block, instrumented libraries make no span.

    Exporters send their own traffic under it, so that tracing never traces
    itself (the OTLP exporter speaks HTTP through ``requests``).
    """

    def __enter__(self) -> None:
        self._token = _suppressed.set(True)

    def __exit__(self, *exc: Any) -> None:
        _suppressed.reset(self._token)


def suppress_on_this_thread() -> None:
    """Suppress instrumentation for the rest of this thread (our own
    threads, which only ever send our own traffic)."""
    _suppressed.set(True)


def is_suppressed() -> bool:
    return _suppressed.get()
