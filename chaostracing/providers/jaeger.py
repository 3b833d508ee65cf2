"""The ``jaeger`` provider: spans to a Jaeger agent over UDP (Thrift compact).

Our own :class:`~chaostracing.tracer.Tracer` (Jaeger's span model and
``uber-trace-id`` propagation) reports to
:class:`~chaostracing.exporters.udp.UdpSpanSender`. Neither needs
jaeger-client: importing it would cost more than a traced run may add.
"""
import socket

from chaostracing import __version__
from chaostracing.config import TracingConfig
from chaostracing.exporters.udp import UdpSpanSender
from chaostracing.providers import Backend
from chaostracing.redact import Redactor
from chaostracing.tracer import Tracer

__all__ = ["make_tracer", "new_tracer", "process_tags"]


def make_tracer(config: TracingConfig, redactor: Redactor) -> Backend:
    sender = UdpSpanSender(
        config.host,
        config.port,
        redactor=redactor,
        max_queue_size=config.max_queue_size,
    )
    tracer = new_tracer(config, sender)
    tracer.chaostracing_sender = sender

    def close(timeout: float) -> bool:
        return sender.close(timeout)

    where = f"Jaeger agent at {config.host}:{config.port} (UDP)"
    return Backend(tracer, close, where)


def new_tracer(config: TracingConfig, reporter) -> Tracer:
    """Our tracer, reporting finished spans to ``reporter``."""
    return Tracer(
        service_name=config.service_name,
        reporter=reporter,
        sampler_rate=config.sampler_rate,
        tags=process_tags(config),
        propagation=config.propagation,
    )


def process_tags(config: TracingConfig = None) -> dict:
    """The tags Jaeger shows for the process that sent the spans."""
    hostname = socket.gethostname()
    try:
        ip = socket.gethostbyname(hostname)
    except OSError:
        ip = "127.0.0.1"
    tags = {
        "jaeger.version": f"Python-chaostracing-{__version__}",
        "hostname": hostname,
        "ip": ip,
        "chaostracing.version": __version__,
    }
    try:
        from chaoslib import __version__ as chaoslib_version

        tags["chaostoolkit.lib.version"] = chaoslib_version
    except ImportError:  # pragma: no cover - chaoslib is a dependency
        pass
    if config is not None and config.experiment_title:
        tags["chaostoolkit.experiment.title"] = config.experiment_title
    return tags
