"""chaostoolkit-opentracing 0.18.1, still understood: all of it, in one place.

This project succeeds 0.18.1 under the same distribution name, so
experiments written for 0.18.1 must run unchanged. What that takes:

- **its setting names**: the control arguments (``provider``, ``host``,
  ``port``, ``propagation``, ``id_name``, ``baggage_prefix``, ``exporter``,
  ``collector_*``), the configuration keys (``tracing_opentelemetry_*``,
  ``baggage_prefix``, ``otel_vendor``) and the ``OTEL_VENDOR`` variable,
  read as this project's settings (:func:`translate`, :data:`KEYS`,
  :data:`ENV_NAMES`; :mod:`chaostracing._run.config` calls them);
- **its exporter choice** (``tracing_opentelemetry_exporter``) as provider
  and protocol, and one sentence for the one it had that we do not
  (:func:`exporter_problem`);
- **its vendors** Google Cloud and Azure, traced over OTLP with one warning
  saying how to forward (:func:`vendor_note`);
- **its OpenTelemetry control**, :mod:`chaostracing.oltp`: the ``trace_*``
  flags (:func:`oltp_arguments`, :func:`without_oltp_flags`) and the span
  attributes 0.18.1 wrote, next to ours (:data:`ATTRIBUTES_0_18_1`, handed
  to the run by :mod:`chaostracing._run.lifecycle`).

How long each of these stays, and what will warn before it goes: the
CHANGELOG's deprecation policy ("0.18.1 compatibility").

The settings table imports this module when the control is imported: keep
its top free of imports.
"""
from typing import Any, Dict, List, Mapping, Optional, Tuple

__all__ = [
    "ATTRIBUTES_0_18_1",
    "Attributes",
    "ENV_NAMES",
    "KEYS",
    "OLTP",
    "VENDORS",
    "carry_unmapped",
    "exporter_problem",
    "oltp_arguments",
    "oltp_sources",
    "original_name",
    "translate",
    "vendor_note",
    "without_oltp_flags",
]

###############################################################################
# Settings
###############################################################################
#: 0.18.1's control arguments, read as ours (before the configuration keys)
_ARGUMENTS = {
    "provider": "tracing_provider", "host": "tracing_host",
    "port": "tracing_port", "propagation": "tracing_propagation",
    "id_name": "tracing_id_name", "baggage_prefix": "tracing_baggage_prefix",
    "exporter": "tracing_opentelemetry_exporter",
    "collector_endpoint": "tracing_opentelemetry_collector_endpoint",
    "collector_insecure": "tracing_opentelemetry_collector_endpoint_insecure",
    "collector_headers": "tracing_opentelemetry_collector_headers",
}
#: 0.18.1's configuration keys (and what its arguments became), read as ours
_CONFIGURATION = {
    "baggage_prefix": "tracing_baggage_prefix",
    "otel_vendor": "tracing_vendor",
    "tracing_opentelemetry_collector_endpoint": "tracing_otlp_endpoint",
    "tracing_opentelemetry_collector_endpoint_insecure":
        "tracing_otlp_insecure",
    "tracing_opentelemetry_collector_headers": "tracing_otlp_headers",
}
_EXPORTER = "tracing_opentelemetry_exporter"
_EXPORTERS = {
    "oltp-http": {"tracing_provider": "otlp",
                  "tracing_otlp_protocol": "http/protobuf"},
    "oltp-grpc": {"tracing_provider": "otlp", "tracing_otlp_protocol": "grpc"},
    "jaeger-thrift": {"tracing_provider": "jaeger"},
}
#: every 0.18.1 name accepted as a control argument or configuration key
KEYS = frozenset(_ARGUMENTS) | frozenset(_CONFIGURATION) \
    | {_EXPORTER, "tracing_opentelemetry_baggage_prefix"}
#: environment variables only 0.18.1 read, by the setting they fill (the
#: standard OTEL_* variables are in the settings table: OpenTelemetry's SDK
#: reads them too)
ENV_NAMES: Dict[str, Tuple[str, ...]] = {"tracing_vendor": ("OTEL_VENDOR",)}
#: 0.18.1's ``OTEL_VENDOR`` values traced over OTLP only (see vendor_note)
VENDORS = ("gcp", "azure")


def translate(values: Mapping[str, Any],
              arguments: bool = False) -> Dict[str, Any]:
    """0.18.1's names in ``values`` as ours: renamed keys (of control
    arguments when ``arguments``, else of the configuration), and its
    OpenTelemetry exporter choice (``tracing_opentelemetry_exporter``) as
    provider and protocol."""
    out = dict(values)
    for table in ((_ARGUMENTS, _CONFIGURATION) if arguments
                  else (_CONFIGURATION,)):
        for old, new in table.items():
            if old in out:
                value = out.pop(old)
                if new not in out:
                    out[new] = value
    exporter = out.get(_EXPORTER)
    if isinstance(exporter, str) and exporter in _EXPORTERS:
        out.pop(_EXPORTER)
        for key, value in _EXPORTERS[exporter].items():
            if key == "tracing_provider" and out.get(key) not in (
                    None, "", "opentelemetry"):
                continue  # a provider of ours, named explicitly, wins
            out[key] = value
    if _is_set(out.pop("tracing_opentelemetry_baggage_prefix", None)):
        # 0.18.1 answered it by writing B3 headers
        out.setdefault("tracing_propagation", ["b3"])
    return out


def original_name(key: str, values: Mapping[str, Any],
                  arguments: bool = False) -> Optional[str]:
    """The 0.18.1 name in ``values`` that :func:`translate` read as ``key``,
    so that a message names what the user wrote."""
    for table in ((_ARGUMENTS, _CONFIGURATION) if arguments
                  else (_CONFIGURATION,)):
        for old, new in table.items():
            if new == key and old in values:
                return old
    if key in ("tracing_provider", "tracing_otlp_protocol") \
            and _EXPORTER in values:
        return _EXPORTER
    if key == "tracing_propagation" and _is_set(
            values.get("tracing_opentelemetry_baggage_prefix")):
        return "tracing_opentelemetry_baggage_prefix"
    return None


def carry_unmapped(
    raw: Dict[str, Any], sources: Dict[str, str],
    arguments: Mapping[str, Any], configuration: Mapping[str, Any],
) -> None:
    """Keep in ``raw`` the exporter choice :func:`translate` could not map
    (arguments first), for :func:`exporter_problem` to name."""
    for values, where in ((arguments, "control arguments"),
                          (configuration, "configuration")):
        if _EXPORTER in values and _EXPORTER not in raw:
            raw[_EXPORTER], sources[_EXPORTER] = values[_EXPORTER], where


def exporter_problem(raw: Mapping[str, Any]) -> Optional[str]:
    """The sentence about a 0.18.1 exporter we do not have, if one is set."""
    exporter = raw.get(_EXPORTER)
    if exporter is None:
        return None
    return (
        f"tracing_opentelemetry_exporter is {exporter!r}: expected "
        "'oltp-http', 'oltp-grpc' or 'jaeger-thrift' (Jaeger's own gRPC "
        "protocol is not supported: Jaeger takes OTLP, so use "
        "tracing_provider 'otlp' with tracing_otlp_protocol 'grpc' and "
        "Jaeger's OTLP port, 4317)")


def vendor_note(vendor: Optional[str]) -> Optional[str]:
    """The one warning for a 0.18.1 vendor we trace over OTLP only."""
    if vendor not in VENDORS:
        return None
    where = "Google Cloud Trace" if vendor == "gcp" else "Azure Monitor"
    return (f"OTEL_VENDOR {vendor!r} (tracing_vendor): the run is traced over "
            "OTLP to the configured endpoint; to reach " + where + ", run an "
            "OpenTelemetry Collector with its exporter (docs: Migrating from "
            "0.18.1, Vendors)")


def _is_set(value: Any) -> bool:
    return value is not None and value != ""


###############################################################################
# chaostracing.oltp
###############################################################################
#: what messages name as the source of the settings chaostracing.oltp sets
#: for the user
OLTP = "chaostracing.oltp"
#: 0.18.1's flags of chaostracing.oltp, and the client each traces
_OLTP_FLAGS = (("trace_request", "requests"), ("trace_requests", "requests"),
               ("trace_httpx", "httpx"), ("trace_botocore", "botocore"),
               ("trace_urllib3", "urllib3"))


def oltp_arguments(arguments: Mapping[str, Any]) -> Dict[str, Any]:
    """``chaostracing.oltp``'s control arguments as ``chaostracing.control``
    reads them: OTLP, and the ``trace_*`` flags as ``tracing_instrument``."""
    out = dict(arguments)
    names: List[str] = []
    for flag, name in _OLTP_FLAGS:
        if _true(out.pop(flag, False)) and name not in names:
            names.append(name)
    out.setdefault("tracing_provider", "otlp")
    if names:
        out.setdefault("tracing_instrument", names)
    return out


def oltp_sources(arguments: Mapping[str, Any]) -> Dict[str, str]:
    """What :func:`oltp_arguments` set for the user, and the source messages
    name for it: ``chaostracing.oltp`` for the provider, and for
    ``tracing_instrument`` the flag of each client
    (``"chaostracing.oltp:httpx=trace_httpx,..."``)."""
    sources: Dict[str, str] = {}
    if "tracing_provider" not in arguments:
        sources["tracing_provider"] = OLTP
    flags: Dict[str, str] = {}
    for flag, name in _OLTP_FLAGS:
        if _true(arguments.get(flag, False)) and name not in flags:
            flags[name] = flag
    if flags and "tracing_instrument" not in arguments:
        sources["tracing_instrument"] = OLTP + ":" + ",".join(
            f"{name}={flag}" for name, flag in flags.items())
    return sources


def oltp_flag(name: str, source: str) -> Optional[str]:
    """The ``trace_*`` flag that asked for client ``name``, when
    ``source`` is :func:`oltp_sources`' for ``tracing_instrument``."""
    where, _, flags = source.partition(":")
    if where != OLTP:
        return None
    for pair in flags.split(","):
        client, _, flag = pair.partition("=")
        if client == name:
            return flag
    return None


def without_oltp_flags(control: Dict[str, Any]) -> Dict[str, Any]:
    """``chaostracing.oltp``'s control block less its own flags, for
    ``chaostracing.control``'s validation."""
    provider = dict(control.get("provider") or {})
    arguments = dict(provider.get("arguments") or {})
    for flag, _ in _OLTP_FLAGS:
        arguments.pop(flag, None)
    provider["arguments"] = arguments
    return dict(control, provider=provider)


def _true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


###############################################################################
# 0.18.1's span attributes
###############################################################################
class Attributes:
    """What a run configured by ``chaostracing.oltp`` also records: the
    attributes 0.18.1's control set, next to ours, so that dashboards and
    queries built on them keep working. The run
    (:class:`chaostracing._run.run.TracedRun`) calls it at each step."""

    version = "0.18.1"

    def begin(self, level: str, context: Any,
              tags: Mapping[str, Any]) -> Dict[str, Any]:
        """The attributes 0.18.1 set when a level began."""
        from chaostracing._data import tags as tagnames

        extra: Dict[str, Any] = {}
        if level == "experiment":
            import os
            import platform
            import urllib.parse

            extra[tagnames.CHAOSTOOLKIT_PLATFORM_FULL] = platform.platform()
            # W3C baggage handed in by the environment, as 0.18.1 added it
            for item in os.environ.get("BAGGAGE", "").split(","):
                key, eq, value = item.split(";", 1)[0].partition("=")
                if eq and key.strip():
                    extra[urllib.parse.unquote(key.strip())] = \
                        urllib.parse.unquote(value.strip())
        elif level == "hypothesis":
            if tags.get(tagnames.CHAOSTOOLKIT_HYPOTHESIS_PHASE) == "during":
                extra[tagnames.CHAOSTOOLKIT_HYPOTHESIS_PHASE] = "continuous"
        elif level == "activity" and isinstance(context, Mapping):
            extra[tagnames.CHAOSTOOLKIT_ACTIVITY_BACKGROUND] = bool(
                context.get("background", False))
        return extra

    def end(self, span: Any, level: str, context: Any, state: Any) -> None:
        """The attributes 0.18.1 set when a level ended."""
        from chaostracing._data import tags as tagnames

        if level == "experiment" and isinstance(state, Mapping):
            span.set_tag(tagnames.CHAOSTOOLKIT_EXPERIMENT_STATUS,
                         state.get("status"))
            span.set_tag(tagnames.CHAOSTOOLKIT_EXPERIMENT_DEVIATED,
                         state.get("deviated"))
        elif level == "hypothesis" and isinstance(state, Mapping):
            span.set_tag(tagnames.CHAOSTOOLKIT_HYPOTHESIS_MET,
                         state.get("steady_state_met"))
        elif level == "activity" and isinstance(state, Mapping):
            if "output" in state:
                import json

                from chaostracing._run.redact import safe_text
                from chaostracing._run.run import recorded_output

                # as 0.18.1 wrote it: JSON text (masked and cut on export)
                output = recorded_output(context, state["output"])
                span.set_tag(tagnames.CHAOSTOOLKIT_ACTIVITY_OUTPUT,
                             json.dumps(output) if isinstance(output, str)
                             else safe_text(output)[0])
            span.set_tag(tagnames.CHAOSTOOLKIT_ACTIVITY_STATUS,
                         state.get("status"))
            if state.get("exception"):
                span.set_tag(tagnames.CHAOSTOOLKIT_ACTIVITY_ERROR,
                             state["exception"])

    def event(self, root: Any, name: str) -> None:
        """The attribute 0.18.1 set on the root span for a run event."""
        from chaostracing._data import tags as tagnames

        if name == "interrupted":
            root.set_tag(tagnames.CHAOSTOOLKIT_EXPERIMENT_INTERRUPTED, True)
        elif name == "signal_exit":
            root.set_tag(tagnames.CHAOSTOOLKIT_EXPERIMENT_EXIT_SIGNAL, True)


#: what chaostracing.oltp hands the run
ATTRIBUTES_0_18_1 = Attributes()
