"""Tracing back-ends: one tracer, a pipeline, and where its spans go.

Every provider gives a :class:`Backend`: chaostracing's own tracer (Jaeger's
span model, for every provider) reporting to a
:class:`~chaostracing._run.pipeline.Pipeline` whose transport is the provider's
(``jaeger``: UDP datagrams, ``file``: a JSON file, ``otlp``: OTLP/HTTP).
Provider modules are imported only when chosen, so an extra that is not
installed costs nothing until asked for, and then fails with one
:class:`ProviderUnavailable` that says what to install.
"""
import importlib
import socket
from typing import Any, Callable, Dict, Optional

import opentracing

from chaostracing._data.model import Process, trace_hex
from chaostracing._data.tags import (
    CHAOSTOOLKIT_EXPERIMENT_TITLE,
    CHAOSTOOLKIT_LIB_VERSION,
    CHAOSTOOLKIT_VERSION,
    CHAOSTRACING_VERSION,
    HOSTNAME,
    IP,
    JAEGER_VERSION,
)
from chaostracing._run.config import TracingConfig
from chaostracing._run.pipeline import Pipeline, Stats, Transport
from chaostracing._run.propagation import Propagator
from chaostracing._run.redact import Redactor
from chaostracing._run.tracer import Tracer
from chaostracing._version import __version__

__all__ = [
    "Backend",
    "ProviderUnavailable",
    "assemble",
    "make_backend",
    "process_tags",
]


class ProviderUnavailable(RuntimeError):
    """The provider's optional dependencies are not installed."""


class Backend:
    """A tracer and the pipeline behind it: what a run needs of a provider.

    :param tracer: the OpenTracing tracer spans are started with
    :param pipeline: where finished spans go (``None``: nowhere, as for a
        test's MockTracer)
    :param description: where spans go, for messages ("trace file
        /tmp/x.json", "Jaeger agent at 127.0.0.1:6831 (UDP)")
    """

    def __init__(
        self,
        tracer: opentracing.Tracer,
        pipeline: Optional[Pipeline],
        description: str,
    ) -> None:
        self.tracer = tracer
        self.pipeline = pipeline
        self.description = description

    def files(self) -> Dict[str, str]:
        """The files the provider writes, by the journal key recording each
        (:meth:`chaostracing._run.pipeline.Transport.files`)."""
        if self.pipeline is None:
            return {}
        return self.pipeline.transport.files()

    def trace_id(self, span: opentracing.Span) -> str:
        """The trace id of ``span``: 32 lower-case hex digits."""
        trace_id = getattr(span.context, "trace_id", None)
        return trace_hex(trace_id) if isinstance(trace_id, int) else ""

    def stats(self) -> Stats:
        """Spans sent, dropped, still queued, and the problem if any."""
        if self.pipeline is None:
            return Stats(0, 0, 0, None)
        return self.pipeline.stats()

    def flush(self, timeout: float) -> bool:
        """Deliver what is queued, within ``timeout`` seconds."""
        return self.pipeline is None or self.pipeline.flush(timeout)

    def close(self, timeout: float) -> bool:
        """Deliver what is queued and stop, within ``timeout`` seconds."""
        return self.pipeline is None or self.pipeline.close(timeout)


def make_backend(config: TracingConfig, redactor: Redactor) -> Backend:
    """The back-end of ``config.provider``.

    :raises ProviderUnavailable: when its optional dependencies are missing.
    """
    module = importlib.import_module(
        f"chaostracing._run.providers.{config.provider}")
    backend: Backend = module.build(config, redactor)
    return backend


def assemble(
    config: TracingConfig,
    redactor: Redactor,
    transport: Transport,
    new_trace_id: Optional[Callable[[], int]] = None,
    extra_process_tags: Optional[Dict[str, Any]] = None,
) -> Backend:
    """Our tracer, reporting to a pipeline in front of ``transport``."""
    tags = process_tags(config)
    tags.update(extra_process_tags or {})
    pipeline = Pipeline(
        transport,
        redactor,
        lambda: clean_process(config.service_name, tags, redactor),
        max_queue_size=config.max_queue_size,
    )
    tracer = Tracer(
        service_name=config.service_name,
        reporter=pipeline,
        sampler_rate=config.sampler_rate,
        tags=tags,
        propagator=Propagator(
            config.propagation,
            trace_header=config.trace_header,
            baggage_prefix=config.baggage_prefix,
            clean=redactor.mask,
        ),
        new_trace_id=new_trace_id,
    )
    return Backend(tracer, pipeline, transport.description)


def clean_process(service: str, tags: Dict[str, Any],
                  redactor: Redactor) -> Process:
    """The process of a run as it is exported: names and tags masked, with
    the host's name and address (looked up here, off the traced thread)."""
    tags = dict(tags)
    try:
        hostname = socket.gethostname()
        tags.setdefault(HOSTNAME, hostname)
        tags.setdefault(IP, socket.gethostbyname(hostname))
    except OSError:
        tags.setdefault(IP, "127.0.0.1")
    return Process(
        redactor.clean_text(service),
        [
            (redactor.clean_key(k), redactor.clean_value(v, k))
            for k, v in tags.items()
            if v is not None
        ],
    )


def process_tags(config: TracingConfig) -> Dict[str, Any]:
    """The tags of the process that sends the spans (as Jaeger shows them)."""
    tags: Dict[str, Any] = {
        JAEGER_VERSION: f"Python-chaostracing-{__version__}",
        CHAOSTRACING_VERSION: __version__,
    }
    for module, key in (("chaoslib", CHAOSTOOLKIT_LIB_VERSION),
                        ("chaostoolkit", CHAOSTOOLKIT_VERSION)):
        try:
            tags[key] = importlib.import_module(module).__version__
        except (ImportError, AttributeError):
            pass
    if config.experiment_title:
        tags[CHAOSTOOLKIT_EXPERIMENT_TITLE] = config.experiment_title
    return tags

