"""The ``jaeger`` provider: spans to a Jaeger agent over UDP (Thrift compact).

Our tracer reports to a pipeline whose transport is
:class:`~chaostracing.jaeger.sender.UdpTransport`. Neither needs
jaeger-client: importing it would cost more than a traced run may add.
"""
from chaostracing.config import TracingConfig
from chaostracing.jaeger.sender import UdpTransport
from chaostracing.providers import Backend, assemble
from chaostracing.redact import Redactor

__all__ = ["build"]


def build(config: TracingConfig, redactor: Redactor) -> Backend:
    return assemble(config, redactor, UdpTransport(config.host, config.port))
