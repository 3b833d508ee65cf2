"""The ``jaeger`` provider: spans to a Jaeger agent over UDP (Thrift compact).

Our tracer reports to a pipeline whose transport is
:class:`~chaostracing._run.providers.udp.UdpTransport`. Neither needs
jaeger-client: importing it would cost more than a traced run may add
(``benchmarks/import_cost.py``).
"""
from chaostracing._run.config import TracingConfig
from chaostracing._run.providers import Backend, assemble
from chaostracing._run.providers.udp import UdpTransport
from chaostracing._run.redact import Redactor

__all__ = ["build"]


def build(config: TracingConfig, redactor: Redactor) -> Backend:
    return assemble(config, redactor, UdpTransport(config.host, config.port))
