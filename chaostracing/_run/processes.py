"""The run's trace context for child processes.

A process a traced activity starts (chaoslib's ``process`` activities:
kubectl, scripts, otel-cli, another ``chaos``) gets the current span's
context in its environment, as OpenTelemetry's specification for
environment-variable carriers says: ``TRACEPARENT`` (and ``BAGGAGE``),
``UBER_TRACE_ID`` too when ``jaeger`` is in ``tracing_propagation``. It is
set per child process, on the ``env`` handed to ``subprocess.Popen``, never
by writing ``os.environ`` (background activities run at the same time).

The patch is wrapt's ``wrap_function_wrapper`` on ``subprocess.Popen``,
installed at the first ``process`` activity of a run (wrapt's import is
measured in ``benchmarks/import_cost.py``: only runs that start processes
pay it) and removed at
cleanup. :func:`trace_env` gives the same variables to extension code that
starts processes its own way.
"""
import os
from typing import Any, Dict, Mapping, Optional, Tuple

import opentracing

from chaostracing._run import context as ctx
from chaostracing._run import safety
from chaostracing._run.spancontext import JaegerSpanContext

__all__ = ["patch", "patched", "trace_env", "unpatch"]

#: Popen(args, bufsize, executable, stdin, stdout, stderr, preexec_fn,
#: close_fds, shell, cwd, env, ...): where env is when passed by position
_ENV_INDEX = 10
_wrapper: Any = None


def trace_env(span: Optional[opentracing.Span] = None) -> Dict[str, str]:
    """The environment variables that carry ``span`` (default: the current
    span) to a child process; empty when nothing is traced.

    >>> trace_env()  # no run is traced here
    {}
    """
    span = span or ctx.current_span()
    tracer = opentracing.tracer
    propagator = getattr(getattr(tracer, "wrapped", tracer), "propagator", None)
    context = getattr(span, "context", None)
    if propagator is None or not isinstance(context, JaegerSpanContext):
        return {}
    env: Dict[str, str] = propagator.environment(context)
    return env


def patched() -> bool:
    return _wrapper is not None


def patch() -> None:
    """Give every child process started from now on the trace context."""
    global _wrapper
    if _wrapper is not None:
        return
    import subprocess

    import wrapt

    wrapt.wrap_function_wrapper(subprocess, "Popen.__init__", _with_trace_env)
    _wrapper = subprocess.Popen.__dict__["__init__"]


def unpatch() -> None:
    """Undo :func:`patch` (unless someone wrapped Popen over us since)."""
    global _wrapper
    if _wrapper is None:
        return
    import subprocess

    current = subprocess.Popen.__dict__.get("__init__")
    if current is not None and current is _wrapper:
        subprocess.Popen.__init__ = (  # type: ignore[method-assign]
            current.__wrapped__)
    _wrapper = None


def _with_trace_env(wrapped: Any, instance: Any, args: Tuple[Any, ...],
                    kwargs: Dict[str, Any]) -> Any:
    extra: Dict[str, str] = {}
    with safety.capture_internal_exceptions("give a process the trace context"):
        extra = trace_env()
    if not extra:
        return wrapped(*args, **kwargs)
    positional = len(args) > _ENV_INDEX
    env = args[_ENV_INDEX] if positional else kwargs.get("env")
    if env is None or env is os.environ:
        # inherited: the context of the run (from a CI pipeline, say) gives
        # way to the activity's
        env = dict(os.environ, **extra)
    elif isinstance(env, Mapping) and not any(k in env for k in extra):
        env = dict(env, **extra)
    else:  # the caller set a context of their own: theirs
        return wrapped(*args, **kwargs)
    if positional:
        args = args[:_ENV_INDEX] + (env,) + args[_ENV_INDEX + 1:]
    else:
        kwargs = dict(kwargs, env=env)
    return wrapped(*args, **kwargs)
