"""chaostracing: one distributed trace per Chaos Toolkit run.

The public API for extension authors::

    import chaostracing

    @chaostracing.traced_activity           # a child span for each call
    def my_probe(url: str) -> bool: ...

    span = chaostracing.current_span()      # the innermost span here
    tracer = chaostracing.get_tracer()      # the run's tracer, or a no-op one
    pool.submit(chaostracing.bind_context(work))  # keep the span in a thread
    env = chaostracing.trace_env()          # TRACEPARENT... for a child process

Importing this package makes ``opentracing.tracer.activity_span`` (and the
other ``*_span`` attributes of the original README) safe to read when no run
is traced: they are ``None``.
"""
from typing import Any, Dict

import opentracing

from chaostracing._run.context import (
    bind_context,
    current_span,
    install_noop_proxy,
    use_span,
)
from chaostracing._version import __version__

__all__ = [
    "__version__",
    "bind_context",
    "current_span",
    "get_tracer",
    "record_exception",
    "trace_env",
    "traced_activity",
    "use_span",
]


def get_tracer() -> opentracing.Tracer:
    """The global tracer: the run's when a run is traced, else a no-op one.

    >>> get_tracer().activity_span is None
    True
    """
    return opentracing.global_tracer()


def discover(discover_system: bool = True) -> Dict[str, Any]:
    """What ``chaos discover chaostoolkit-opentracing`` lists: the probes of
    :mod:`chaostracing.probes` (traces as the steady state), their arguments
    and documentation. Loaded only when asked, so the control's import does
    not pay for it."""
    from chaostracing.probes import discover as discover_probes

    return discover_probes(discover_system)


def __getattr__(name: str) -> Any:
    # the decorator needs wrapt, whose import (asyncio included) is measured
    # in benchmarks/import_cost.py: load it when an extension asks for it,
    # not when the control loads
    if name in ("traced_activity", "record_exception"):
        from chaostracing._run import decorators

        return getattr(decorators, name)
    if name == "trace_env":
        from chaostracing._run.processes import trace_env

        return trace_env
    raise AttributeError(f"module 'chaostracing' has no attribute {name!r}")


install_noop_proxy()
