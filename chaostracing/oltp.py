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
"""
from typing import Any, Dict, Optional

from chaostracing import control
from chaostracing._run import lifecycle
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

_FLAGS = (("trace_request", "requests"), ("trace_requests", "requests"),
          ("trace_httpx", "httpx"), ("trace_botocore", "botocore"),
          ("trace_urllib3", "urllib3"))


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
    names = []
    for flag, name in _FLAGS:
        if _true(arguments.pop(flag, False)) and name not in names:
            names.append(name)
    arguments.setdefault("tracing_provider", "otlp")
    if names:
        arguments.setdefault("tracing_instrument", names)
    lifecycle.configure(configuration, secrets, experiment, event_registry,
                        arguments, compatibility="0.18.1")


configure_control.__name__ = "configure_control"


def validate_control(control_block: Dict[str, Any]) -> None:
    """What chaostracing.control validates, less this control's own flags."""
    provider = dict(control_block.get("provider") or {})
    arguments = dict(provider.get("arguments") or {})
    for flag, _ in _FLAGS:
        arguments.pop(flag, None)
    provider["arguments"] = arguments
    control.validate_control(dict(control_block, provider=provider))


def _true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
