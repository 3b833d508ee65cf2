"""The ``jaeger`` provider: jaeger-client's tracer, our UDP sender.

jaeger-client gives the span model, the sampler and the ``uber-trace-id``
propagation that Jaeger users expect; spans leave through
:class:`~chaostracing.exporters.udp.UdpSpanSender` instead of jaeger-client's
tornado reporter (see that module for why). We never call the tracer's
``close()``: it would return a tornado future.
"""
import socket

from opentracing.scope_managers.contextvars import ContextVarsScopeManager

from chaostracing.config import TracingConfig
from chaostracing.exporters.udp import UdpSpanSender
from chaostracing.providers import Backend, ProviderUnavailable
from chaostracing.redact import Redactor

__all__ = ["make_tracer"]


def make_tracer(config: TracingConfig, redactor: Redactor) -> Backend:
    try:
        from jaeger_client import Tracer
        from jaeger_client.sampler import ConstSampler, ProbabilisticSampler
    except ImportError as error:
        raise ProviderUnavailable(
            "tracing_provider 'jaeger' needs the jaeger extra: "
            "pip install 'chaostoolkit-opentracing[jaeger]' "
            f"({error})"
        ) from error

    sender = UdpSpanSender(
        config.host,
        config.port,
        redactor=redactor,
        max_queue_size=config.max_queue_size,
    )
    if config.sampler_rate >= 1.0:
        sampler = ConstSampler(True)
    else:
        sampler = ProbabilisticSampler(config.sampler_rate)
    tracer = Tracer(
        service_name=config.service_name,
        reporter=sender,
        sampler=sampler,
        generate_128bit_trace_id=True,
        # redactor cuts with a visible marker on the sender thread; this
        # only bounds what a runaway tag keeps in memory meanwhile
        max_tag_value_length=max(65000, config.max_tag_length),
        tags={"ip": _local_ip()},
        scope_manager=ContextVarsScopeManager(),
    )
    # the UDP sender is our reporter: keep a handle for tests and stats
    tracer.chaostracing_sender = sender

    def close(timeout: float) -> bool:
        return sender.close(timeout)

    where = f"Jaeger agent at {config.host}:{config.port} (UDP)"
    return Backend(tracer, close, where)


def _local_ip() -> str:
    # jaeger-client would otherwise probe the network interfaces itself
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"
