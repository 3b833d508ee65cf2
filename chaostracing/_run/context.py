"""The current span for extension code, and the tracer proxy set as the global
tracer.

"The current span" has one source: the active scope of
:data:`chaostracing._run.scope.SCOPE_MANAGER` (a context variable: each thread
and asyncio task sees its own). On top of it this module keeps, run-wide, the
spans open at each level (experiment, hypothesis, method, rollback,
activity): the fallback for threads that start without a copy of the
context (chaoslib's thread pools, threads an extension starts), and what
``tracer.activity_span`` and friends answer there.

:class:`TracerProxy` is what ``opentracing.tracer`` holds while a run is
traced. It behaves as the real tracer and adds the attributes the original
README promised (``tracer.activity_span``...), answered for the calling
context. A run enters and leaves levels through :meth:`TracerProxy.enter`
and :meth:`TracerProxy.leave`, which return and take a handle.

Extensions may keep ``opentracing.tracer`` in a variable before any run
begins (``tracer = opentracing.tracer`` at the top of a module, imported by
chaoslib's validation before the control). So importing :mod:`chaostracing`
turns OpenTracing's default no-op tracer, the very object, into a
:class:`DefaultTracer` (:func:`install_noop_proxy`): it has the ``*_span``
attributes (``None`` when no run is traced), and while a run is traced it
answers for the run's proxy, so a reference taken early still reaches the
run. chaostracing is imported when ``chaos`` starts (a hidden command,
:mod:`chaostracing._run.chaosplugin`), before any extension.
"""
import contextlib
import contextvars
import functools
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar

import opentracing

from chaostracing._run.scope import (
    SCOPE_MANAGER,
    ActivatingTracer,
    active_span,
    is_suppressed,
    suppress_instrumentation,
)

__all__ = [
    "LEVELS",
    "DefaultTracer",
    "Entry",
    "TracerProxy",
    "bind_context",
    "current_span",
    "install",
    "install_noop_proxy",
    "installed_proxy",
    "is_suppressed",
    "is_tracing",
    "restore",
    "suppress_instrumentation",
    "use_span",
]

LEVELS = ("experiment", "hypothesis", "method", "rollback", "activity")

_level_vars: Dict[
    str, "contextvars.ContextVar[Optional[opentracing.Span]]"] = {
    level: contextvars.ContextVar(f"chaostracing_{level}_span", default=None)
    for level in LEVELS
}


def current_span() -> Optional[opentracing.Span]:
    """The span of the calling context, else ``None``.

    The innermost of: a ``@traced_activity`` function or an instrumented
    request under way, the activity being run. In a thread that did not
    inherit the context, the most recently started activity still open.

    >>> import chaostracing
    >>> chaostracing.current_span() is None  # no run is traced here
    True
    """
    span = active_span()
    tracer = opentracing.tracer
    if not isinstance(tracer, TracerProxy):
        return span
    if span is None:
        return tracer.innermost("activity")
    return span if tracer._owns(span) else None


@contextlib.contextmanager
def use_span(span: Optional[opentracing.Span]) -> Iterator[Any]:
    """Make ``span`` the current span inside the ``with`` block.

    The span is not finished on the way out: whoever started it does that.

    >>> with use_span(None):
    ...     current_span() is None
    True
    """
    scope = SCOPE_MANAGER.activate(span, False)
    try:
        yield span
    finally:
        scope.close()


F = TypeVar("F", bound=Callable[..., Any])


def bind_context(func: F) -> F:
    """``func``, to be run elsewhere with the caller's current span.

    Threads and executors do not copy context variables: a span that is
    current where work is handed off is not current where it runs. Bind the
    callable where it is handed off::

        pool.submit(chaostracing.bind_context(probe_one), host)
        threading.Thread(target=chaostracing.bind_context(worker)).start()

    The span is captured when ``bind_context`` is called, and each call of
    the returned function makes it current for its own duration, so the
    same bound function may run in several threads at once.
    """
    span = current_span()

    @functools.wraps(func)
    def bound(*args: Any, **kwargs: Any) -> Any:
        with use_span(span):
            return func(*args, **kwargs)

    return bound  # type: ignore[return-value]


def is_tracing() -> bool:
    """Whether spans started now go anywhere (a run is traced, or some
    tracer other than OpenTracing's no-op one is registered)."""
    tracer = opentracing.tracer
    if type(tracer) is TracerProxy:
        return not tracer.noop
    if type(tracer) is DefaultTracer:
        run = tracer.run_proxy()
        return run is not None and not run.noop
    return type(tracer) is not opentracing.Tracer


class Entry:
    """A level entered by :meth:`TracerProxy.enter`: what ``leave`` undoes."""

    __slots__ = ("level", "span", "_token", "_previous", "_scope")

    def __init__(self, level: str, span: opentracing.Span) -> None:
        self.level = level
        self.span = span
        self._token: Any = None
        self._previous: Any = None
        self._scope: Optional[opentracing.Scope] = None


class TracerProxy(ActivatingTracer, opentracing.Tracer):
    """The real tracer, plus ``experiment_span`` ... ``activity_span``.

    Spans started through the proxy with no explicit parent become children
    of :func:`current_span`, else of the innermost level open in the run, so
    code written against ``opentracing.tracer`` joins the experiment's trace
    without threading spans by hand.
    """

    def __init__(self, tracer: opentracing.Tracer) -> None:
        # no super().__init__: scope_manager is the real tracer's
        self._tracer = tracer
        #: wraps OpenTracing's no-op tracer: nothing is recorded
        self.noop = type(tracer) in (opentracing.Tracer, DefaultTracer)
        self._lock = threading.Lock()
        self._open: Dict[str, List[opentracing.Span]] = {
            lv: [] for lv in LEVELS}
        self._root: Optional[opentracing.Span] = None

    # -- the README's attributes -------------------------------------------
    def _level_attribute(level: str) -> property:  # type: ignore[misc]
        def read(self: "TracerProxy") -> Optional[opentracing.Span]:
            return self._for_level(level)

        read.__doc__ = (
            f"The {level} span of the calling context (thread or task), "
            f"else the run's most recent open one, else None."
        )
        return property(read)

    experiment_span = _level_attribute("experiment")
    hypothesis_span = _level_attribute("hypothesis")
    method_span = _level_attribute("method")
    rollback_span = _level_attribute("rollback")
    activity_span = _level_attribute("activity")
    del _level_attribute

    @property
    def wrapped(self) -> opentracing.Tracer:
        """The tracer of the provider."""
        return self._tracer

    @property
    def root(self) -> Optional[opentracing.Span]:
        """The first span entered in the run."""
        return self._root

    # -- entering and leaving levels (the run's interface) ---------------------
    def enter(
        self, level: str, span: opentracing.Span, current: bool = False
    ) -> Entry:
        """Record ``span`` as open at ``level``, for this context and run-wide;
        with ``current``, also make it the current span here."""
        entry = Entry(level, span)
        var = _level_vars[level]
        entry._previous = var.get()
        entry._token = var.set(span)
        if current:
            entry._scope = self._tracer.scope_manager.activate(span, False)
        with self._lock:
            self._open[level].append(span)
            if self._root is None:
                self._root = span
        return entry

    def leave(self, entry: Entry) -> None:
        """Undo :meth:`enter` (the span is not finished here)."""
        if entry._scope is not None:
            entry._scope.close()
            entry._scope = None
        var = _level_vars[entry.level]
        try:
            var.reset(entry._token)
        except ValueError:  # left from another context: undo what we can
            if var.get() is entry.span:
                var.set(entry._previous)
        with self._lock:
            spans = self._open[entry.level]
            for index in range(len(spans) - 1, -1, -1):
                if spans[index] is entry.span:
                    del spans[index]
                    break

    def innermost(self, level: str) -> Optional[opentracing.Span]:
        """The most recently entered span still open at ``level``, run-wide."""
        spans = self._open[level]
        try:
            return spans[-1]
        except IndexError:
            return None

    def fallback_parent(self) -> Optional[opentracing.Span]:
        """Where a span with no parent goes: the innermost open level.

        So that extension code run where the control does not apply (a
        control declared on the hypothesis only, ``automatic: false``) still
        joins the run's trace rather than starting traces of its own.
        """
        with self._lock:
            for level in ("hypothesis", "method", "rollback", "experiment"):
                if self._open[level]:
                    return self._open[level][-1]
        return self._root

    def open_spans(self, level: str) -> List[opentracing.Span]:
        with self._lock:
            return list(self._open[level])

    # -- opentracing.Tracer --------------------------------------------------
    @property
    def scope_manager(self) -> opentracing.ScopeManager:
        return self._tracer.scope_manager

    @property
    def active_span(self) -> Optional[opentracing.Span]:
        return self._tracer.active_span

    def start_span(
        self,
        operation_name: Optional[str] = None,
        child_of: Any = None,
        references: Any = None,
        tags: Any = None,
        start_time: Optional[float] = None,
        ignore_active_span: bool = False,
    ) -> opentracing.Span:
        if child_of is None and not references and not ignore_active_span:
            child_of = current_span() or self.fallback_parent()
        return self._tracer.start_span(
            operation_name=operation_name,
            child_of=child_of,
            references=references,
            tags=tags,
            start_time=start_time,
            ignore_active_span=ignore_active_span,
        )

    def inject(self, span_context: Any, format: str, carrier: Any) -> None:
        if isinstance(span_context, opentracing.Span):
            span_context = span_context.context
        return self._tracer.inject(span_context, format, carrier)

    def extract(  # type: ignore[override]  # None: nothing in the carrier
            self, format: str, carrier: Any
    ) -> Optional[opentracing.SpanContext]:
        return self._tracer.extract(format, carrier)

    def __getattr__(self, name: str) -> Any:
        # anything else the provider's tracer offers (service_name...); never
        # private names, so a half-built proxy cannot recurse
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._tracer, name)

    # -- internals -------------------------------------------------------------
    def _for_level(self, level: str) -> Optional[opentracing.Span]:
        span = _level_vars[level].get()
        if span is not None and self._owns(span):
            return span
        return self.innermost(level)

    def _owns(self, span: opentracing.Span) -> bool:
        # a context variable may still hold a span of an earlier run (a pool
        # thread whose after-hook never came): only this run's spans count
        return getattr(span, "tracer", None) is self._tracer


#: (proxy, the tracer it replaced, whether that was registered), innermost
#: last
_saved: List[Any] = []


def install(proxy: TracerProxy) -> None:
    """Make ``proxy`` the global tracer, remembering what it replaces."""
    _saved.append((proxy, opentracing.tracer, opentracing.is_tracer_registered))
    opentracing.tracer = proxy
    opentracing.is_tracer_registered = True


def restore(proxy: TracerProxy) -> None:
    """Put back the tracer :func:`install` replaced, if ``proxy`` is still set.

    When someone else replaced the global tracer meanwhile, theirs is kept.
    """
    if not _saved:
        return
    _, tracer, registered = _saved.pop()
    if opentracing.tracer is proxy:
        opentracing.tracer = tracer
        opentracing.is_tracer_registered = registered


def installed_proxy() -> Optional[TracerProxy]:
    """The proxy :func:`install` set last and :func:`restore` has not put
    back: the run's (or a test's), else ``None``."""
    try:
        proxy: TracerProxy = _saved[-1][0]
    except IndexError:
        return None
    return proxy


class DefaultTracer(opentracing.Tracer):
    """OpenTracing's default no-op tracer, answering for the traced run.

    Not made, but converted: :func:`install_noop_proxy` sets the class of
    the object ``opentracing.tracer`` holds at first, so that whoever kept a
    reference to it reaches the run. While a proxy is installed
    (:func:`install`) every call is the proxy's; otherwise it is OpenTracing's
    no-op, and the ``*_span`` attributes read ``None``. Only that one object
    is converted: OpenTracing's ``Tracer`` class, and the tracers derived
    from it (jaeger-client's, MockTracer), are left as they are.
    """

    def run_proxy(self) -> Optional[TracerProxy]:
        """The proxy this tracer answers for now, else ``None``."""
        proxy = installed_proxy()
        if proxy is None or proxy.wrapped is self:  # never a loop
            return None
        return proxy

    def _level_attribute(level: str) -> property:  # type: ignore[misc]
        def read(self: "DefaultTracer") -> Optional[opentracing.Span]:
            proxy = self.run_proxy()
            return None if proxy is None else proxy._for_level(level)

        read.__doc__ = f"The run's {level} span here, else None."
        return property(read)

    experiment_span = _level_attribute("experiment")
    hypothesis_span = _level_attribute("hypothesis")
    method_span = _level_attribute("method")
    rollback_span = _level_attribute("rollback")
    activity_span = _level_attribute("activity")
    del _level_attribute

    @property
    def scope_manager(self) -> opentracing.ScopeManager:
        proxy = self.run_proxy()
        if proxy is None:
            manager: opentracing.ScopeManager = self._scope_manager
            return manager
        return proxy.scope_manager

    @property
    def active_span(self) -> Optional[opentracing.Span]:
        proxy = self.run_proxy()
        if proxy is None:
            return super().active_span
        return proxy.active_span

    def start_active_span(
        self,
        operation_name: str,
        child_of: Any = None,
        references: Any = None,
        tags: Any = None,
        start_time: Optional[float] = None,
        ignore_active_span: bool = False,
        finish_on_close: bool = True,
    ) -> opentracing.Scope:
        proxy = self.run_proxy()
        if proxy is None:
            return super().start_active_span(
                operation_name, child_of=child_of, references=references,
                tags=tags, start_time=start_time,
                ignore_active_span=ignore_active_span,
                finish_on_close=finish_on_close)
        return proxy.start_active_span(
            operation_name, child_of=child_of, references=references,
            tags=tags, start_time=start_time,
            ignore_active_span=ignore_active_span,
            finish_on_close=finish_on_close)

    def start_span(
        self,
        operation_name: Optional[str] = None,
        child_of: Any = None,
        references: Any = None,
        tags: Any = None,
        start_time: Optional[float] = None,
        ignore_active_span: bool = False,
    ) -> opentracing.Span:
        proxy = self.run_proxy()
        if proxy is None:
            return super().start_span(
                operation_name=operation_name, child_of=child_of,
                references=references, tags=tags, start_time=start_time,
                ignore_active_span=ignore_active_span)
        return proxy.start_span(
            operation_name=operation_name, child_of=child_of,
            references=references, tags=tags, start_time=start_time,
            ignore_active_span=ignore_active_span)

    def inject(self, span_context: Any, format: str, carrier: Any) -> None:
        proxy = self.run_proxy()
        if proxy is None:
            return super().inject(span_context, format, carrier)
        return proxy.inject(span_context, format, carrier)

    def extract(  # type: ignore[override]  # None: nothing in the carrier
            self, format: str, carrier: Any
    ) -> Optional[opentracing.SpanContext]:
        proxy = self.run_proxy()
        if proxy is None:
            return super().extract(format, carrier)
        return proxy.extract(format, carrier)

    def __getattr__(self, name: str) -> Any:
        # what the run's tracer offers besides OpenTracing's API
        # (service_name...), as the proxy does; never private names
        proxy = None if name.startswith("_") else self.run_proxy()
        if proxy is None:
            raise AttributeError(name)
        return getattr(proxy, name)


def install_noop_proxy() -> None:
    """Make OpenTracing's default no-op tracer a :class:`DefaultTracer`, in
    place.

    Only the untouched default is converted (a tracer someone registered is
    left alone), so ``opentracing.tracer.activity_span`` reads ``None``
    instead of raising ``AttributeError`` in extensions when tracing is off,
    and a reference to it kept before a run reaches the run.
    """
    tracer = opentracing.tracer
    if type(tracer) is opentracing.Tracer:
        tracer.__class__ = DefaultTracer
