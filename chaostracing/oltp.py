"""chaostoolkit-opentracing 0.18.1's OpenTelemetry control, as a drop-in.

Experiments written for 0.18.1 declare it as its README shows::

    "controls": [{"name": "opentelemetry", "provider": {
        "type": "python", "module": "chaostracing.oltp",
        "arguments": {"trace_request": true, "trace_httpx": true,
                      "trace_botocore": true, "trace_urllib3": true}}}]

and run unchanged: the same arguments (``trace_request``, and
``trace_requests`` as 0.18.1's README spelled it), export over OTLP/HTTP
where the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` /
``OTEL_EXPORTER_OTLP_ENDPOINT`` (and ``_HEADERS``) say, ``OTEL_SERVICE_NAME``,
``OTEL_VENDOR``, W3C baggage from the environment (``BAGGAGE``) on the root
span, and the span attributes 0.18.1 set (``chaostoolkit.experiment.status``,
``chaostoolkit.hypothesis.met``, ``chaostoolkit.activity.output``...) next to
this project's. It runs on the same lifecycle as :mod:`chaostracing.control`
(declaring both gives one trace); any ``tracing_*`` setting works here too.

What 0.18.1 needs is in :mod:`chaostracing._run.compat`; how long it stays
is the CHANGELOG's deprecation policy.
"""
from typing import Any, Dict, Optional

from chaostracing._run import compat, lifecycle
from chaostracing.control import (  # noqa: F401  (the hooks chaoslib calls)
    after_activity_control,
    after_experiment_control,
    after_hypothesis_control,
    after_method_control,
    after_rollback_control,
    before_activity_control,
    before_experiment_control,
    before_hypothesis_control,
    before_method_control,
    before_rollback_control,
    cleanup_control,
)

__all__ = [
    "configure_control",
    "validate_control",
    "cleanup_control",
    "before_experiment_control",
    "after_experiment_control",
    "before_hypothesis_control",
    "after_hypothesis_control",
    "before_method_control",
    "after_method_control",
    "before_rollback_control",
    "after_rollback_control",
    "before_activity_control",
    "after_activity_control",
]


@lifecycle.guarded
def configure_control(
    experiment: Optional[Dict[str, Any]] = None,
    event_registry: Any = None,
    configuration: Optional[Dict[str, Any]] = None,
    secrets: Optional[Dict[str, Any]] = None,
    settings: Optional[Dict[str, Any]] = None,
    **arguments: Any,
) -> None:
    """Trace the run over OTLP, as 0.18.1's ``chaostracing.oltp`` did."""
    lifecycle.configure(configuration, secrets, experiment, event_registry,
                        compat.oltp_arguments(arguments),
                        compatibility=compat.ATTRIBUTES_0_18_1,
                        derived=compat.oltp_sources(arguments))


def validate_control(control_block: Dict[str, Any]) -> None:
    """What chaostracing.control validates, with this control's own flags
    read as they are at run time."""
    lifecycle.validate_block(control_block, oltp=True)
