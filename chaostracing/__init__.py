"""chaostracing: one distributed trace per Chaos Toolkit run.

The public API for extension authors::

    import chaostracing

    span = chaostracing.current_span()   # the span of the running activity
    tracer = chaostracing.get_tracer()   # the run's tracer, or a no-op one

Importing this package makes ``opentracing.tracer.activity_span`` (and the
other ``*_span`` attributes of the original README) safe to read when no run
is traced: they are ``None``.
"""
import opentracing

from chaostracing.context import current_span, install_noop_proxy

__all__ = ["__version__", "current_span", "get_tracer"]
__version__ = "0.2.0"


def get_tracer() -> opentracing.Tracer:
    """The global tracer: the run's when a run is traced, else a no-op one.

    >>> get_tracer().activity_span is None
    True
    """
    return opentracing.global_tracer()


install_noop_proxy()
