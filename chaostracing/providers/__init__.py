"""Tracing back-ends: each makes an OpenTracing tracer from a config.

A provider module has one function, ``make_tracer(config, redactor)``,
returning a :class:`Backend`. Provider modules are imported only when chosen,
so an extra that is not installed costs nothing until it is asked for, and
then fails with one :class:`ProviderUnavailable` that says what to install.
"""
import importlib
from typing import Callable, NamedTuple

import opentracing

from chaostracing.config import TracingConfig
from chaostracing.redact import Redactor

__all__ = ["Backend", "ProviderUnavailable", "make_backend"]


class ProviderUnavailable(RuntimeError):
    """The provider's optional dependencies are not installed."""


class Backend(NamedTuple):
    tracer: opentracing.Tracer
    #: ``close(timeout) -> bool``: deliver what is buffered, within timeout
    close: Callable[[float], bool]
    #: a short human description, for the log line at start-up
    description: str


def make_backend(config: TracingConfig, redactor: Redactor) -> Backend:
    module = importlib.import_module(f"chaostracing.providers.{config.provider}")
    return module.make_tracer(config, redactor)
