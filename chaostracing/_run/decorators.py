"""``@traced_activity``: a span around an extension's function.

::

    from chaostracing import traced_activity

    @traced_activity
    def drain_node(name: str) -> None:
        ...

    @traced_activity(name="pick a victim", tags={"team": "sre"})
    async def pick(pods: list) -> str:
        ...

The span is a child of the current span (an enclosing decorated function,
else the running activity), is current while the function runs, records the
exception as ``error=true`` plus an error log and lets it propagate
unchanged. The function keeps its name, docstring, module, signature and
coroutine-ness (wrapt), so chaoslib validates and discovers it as before.

Argument values are recorded only when asked (``record_args=True`` or a list
of names), never the ``secrets`` and ``configuration`` chaoslib injects, and
every recorded string passes through the exporter's secret masking.
When nothing is traced the wrapper calls straight through.
"""
import inspect
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, Union

import opentracing
import wrapt

from chaostracing._data.tags import (
    ARG_PREFIX,
    CODE_FUNCTION,
    CODE_NAMESPACE,
    ERROR,
    ERROR_KIND,
    ERROR_OBJECT,
    EVENT,
    EVENT_ERROR,
    MESSAGE,
)
from chaostracing._data.text import safe_str
from chaostracing._run import context as ctx
from chaostracing._run import safety
from chaostracing._run.scope import SCOPE_MANAGER

__all__ = ["record_exception", "traced_activity"]

#: parameters chaoslib fills in itself: never recorded
_NEVER_RECORDED = frozenset(("secrets", "configuration", "settings"))


#: records a call's arguments on its span
_Recorder = Callable[[opentracing.Span, Tuple[Any, ...], Dict[str, Any]], None]


def traced_activity(
    wrapped: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    tags: Optional[Dict[str, Any]] = None,
    record_args: Union[bool, Iterable[str]] = False,
) -> Any:
    """Trace each call of the decorated function (or coroutine function).

    :param name: the span's operation name (default: the function's
        ``__qualname__``)
    :param tags: tags set on every span
    :param record_args: ``True`` to record every argument, or the names of
        those to record, as ``arg.<name>`` tags
    """
    if wrapped is None:
        return lambda func: traced_activity(
            func, name=name, tags=tags, record_args=record_args
        )

    operation = name or getattr(wrapped, "__qualname__", None) or repr(wrapped)
    static_tags = {
        CODE_FUNCTION: getattr(wrapped, "__name__", operation),
        CODE_NAMESPACE: getattr(wrapped, "__module__", "") or "",
    }
    static_tags.update(tags or {})
    recorder = _arguments_recorder(wrapped, record_args)

    if inspect.iscoroutinefunction(wrapped):

        @wrapt.decorator
        async def async_wrapper(func: Callable[..., Any], instance: Any,
                                args: Tuple[Any, ...],
                                kwargs: Dict[str, Any]) -> Any:
            if not ctx.is_tracing():
                return await func(*args, **kwargs)
            span, scope = _start(operation, static_tags, recorder, args, kwargs)
            try:
                return await func(*args, **kwargs)
            except BaseException as error:
                record_exception(span, error)
                raise
            finally:
                _end(span, scope)

        return async_wrapper(wrapped)

    @wrapt.decorator
    def wrapper(func: Callable[..., Any], instance: Any,
                args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        if not ctx.is_tracing():
            return func(*args, **kwargs)
        span, scope = _start(operation, static_tags, recorder, args, kwargs)
        try:
            return func(*args, **kwargs)
        except BaseException as error:
            record_exception(span, error)
            raise
        finally:
            _end(span, scope)

    return wrapper(wrapped)


def record_exception(span: Optional[opentracing.Span],
                     error: BaseException) -> None:
    """Mark ``span`` failed: ``error=true`` and an OpenTracing error log.

    Never raises: the caller's exception must stay the one that propagates.
    """
    if span is None:
        return
    with safety.capture_internal_exceptions("record an exception"):
        span.set_tag(ERROR, True)
        span.log_kv(
            {
                EVENT: EVENT_ERROR,
                ERROR_KIND: type(error).__name__,
                ERROR_OBJECT: error,
                MESSAGE: safe_str(error),
            }
        )


###############################################################################
# Internals
###############################################################################
def _start(
    operation: str, static_tags: Dict[str, Any], recorder: Optional[_Recorder],
    args: Tuple[Any, ...], kwargs: Dict[str, Any],
) -> Tuple[Optional[opentracing.Span], Optional[opentracing.Scope]]:
    with safety.capture_internal_exceptions("start a @traced_activity span"):
        span = opentracing.tracer.start_span(
            operation, child_of=ctx.current_span(), tags=dict(static_tags)
        )
        if recorder is not None:
            recorder(span, args, kwargs)
        return span, SCOPE_MANAGER.activate(span, False)
    return None, None


def _end(span: Optional[opentracing.Span],
         scope: Optional[opentracing.Scope]) -> None:
    if span is None or scope is None:  # both or neither
        return
    with safety.capture_internal_exceptions("finish a @traced_activity span"):
        scope.close()
        span.finish()


def _arguments_recorder(
    func: Callable[..., Any], record_args: Union[bool, Iterable[str]]
) -> Optional[_Recorder]:
    if not record_args:
        return None
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    wanted = None if record_args is True else frozenset(record_args)

    def record(span: opentracing.Span, args: Tuple[Any, ...],
               kwargs: Dict[str, Any]) -> None:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:
            return  # the call itself will raise the real error
        for key, value in bound.arguments.items():
            if key in _NEVER_RECORDED or (
                    wanted is not None and key not in wanted):
                continue
            span.set_tag(ARG_PREFIX + key, value)  # masked and cut on export

    return record
