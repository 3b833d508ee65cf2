"""The optional packages: what each feature needs, and what a run does
without it.

The base install traces a run to a Jaeger agent (``jaeger``) or a file
(``file``), writes and reads Jaeger, W3C and B3 headers, and traces
``requests``. Everything else is an extra of the distribution:

========================  =================================  ==============
feature                   needs (found without importing)    extra
========================  =================================  ==============
``otlp`` provider         OpenTelemetry's SDK, OTLP/HTTP     opentelemetry
``otlp`` over gRPC        OpenTelemetry's SDK, OTLP/gRPC     grpc
urllib3, httpx, botocore, OpenTelemetry's instrumentation    instrument
aiohttp (tracing_instru-  of each
ment)
B3 / Jaeger headers on    OpenTelemetry's propagators        instrument
those clients
``xray`` headers, AWS     OpenTelemetry's X-Ray propagator,  aws
X-Ray trace ids           the SDK's AWS extension
``tracing_impact``        scipy (its statistics)             impact
========================  =================================  ==============

A missing extra costs its feature, never the trace: :func:`plan` gives the
settings a run can have, with one sentence per missing extra naming the
features it would bring, the ``pip install`` that brings it and what the
run does meanwhile (an ``otlp`` run writes its trace to a file: it is
still there to see with ``chaostracing show``, or to send on). ``chaos
validate`` says the same sentences (:func:`validate`), so a run says each
once.
"""
import importlib.util
import os
from dataclasses import replace
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from chaostracing._run import compat
from chaostracing._run.config import TracingConfig, planned, subject

__all__ = [
    "INSTRUMENTATIONS",
    "PROPAGATORS",
    "asked_for",
    "impact_needs",
    "install_hint",
    "installed",
    "plan",
    "provider_needs",
    "validate",
    "vendor_needs",
]

#: ``tracing_instrument``'s clients that OpenTelemetry's instrumentations
#: trace: name -> (the library's module, the instrumentation's module, its
#: class, the package that brings it)
INSTRUMENTATIONS: Dict[str, Tuple[str, str, str, str]] = {
    "urllib3": ("urllib3", "opentelemetry.instrumentation.urllib3",
                "URLLib3Instrumentor", "opentelemetry-instrumentation-urllib3"),
    "httpx": ("httpx", "opentelemetry.instrumentation.httpx",
              "HTTPXClientInstrumentor", "opentelemetry-instrumentation-httpx"),
    "botocore": ("botocore", "opentelemetry.instrumentation.botocore",
                 "BotocoreInstrumentor",
                 "opentelemetry-instrumentation-botocore"),
    "aiohttp": ("aiohttp", "opentelemetry.instrumentation.aiohttp_client",
                "AioHttpClientInstrumentor",
                "opentelemetry-instrumentation-aiohttp-client"),
}
#: OpenTelemetry's propagators that write a ``tracing_propagation`` format
#: on the instrumentations' requests (W3C's comes with the API): format ->
#: (module, extra)
PROPAGATORS: Dict[str, Tuple[str, str]] = {
    "b3": ("opentelemetry.propagators.b3", "instrument"),
    "jaeger": ("opentelemetry.propagators.jaeger", "instrument"),
    "xray": ("opentelemetry.propagators.aws", "aws"),
}
_OTLP = {"http/protobuf": ("opentelemetry.exporter.otlp.proto.http",
                           "opentelemetry"),
         "grpc": ("opentelemetry.exporter.otlp.proto.grpc", "grpc")}
_SDK = "opentelemetry.sdk"
_AWS_IDS = "opentelemetry.sdk.extension.aws"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (only its
    parent packages, which are namespaces for OpenTelemetry's)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent is missing or broken
        return False


def install_hint(extra: str) -> str:
    return f"pip install 'chaostoolkit-opentracing[{extra}]'"


def provider_needs(config: TracingConfig) -> str:
    """The sentence's start for an ``otlp`` run without its exporter."""
    if config.otlp_protocol == "grpc":
        who = _setting(config, "tracing_otlp_protocol", "'grpc'")
        return f"{who} needs OTLP over gRPC: {install_hint('grpc')}"
    return (f"{_setting(config, 'tracing_provider', repr(config.provider))} "
            f"needs the OTLP exporter: {install_hint('opentelemetry')}")


def vendor_needs(config: TracingConfig) -> str:
    """The sentence for ``tracing_vendor: aws`` without the aws extra."""
    return (f"{_setting(config, 'tracing_vendor', repr(config.vendor))} "
            f"needs the aws extra for X-Ray's trace ids: "
            f"{install_hint('aws')}; the trace has ordinary ids")


def impact_needs(config: TracingConfig) -> Optional[str]:
    """The sentence for ``tracing_impact`` without scipy (None: nothing
    missing)."""
    if not config.impact or installed("scipy"):
        return None
    return (f"{_setting(config, 'tracing_impact', 'true')} needs scipy for "
            f"its statistics: {install_hint('impact')}; the run's impact is "
            "not computed")


def plan(config: TracingConfig,
         fallback_file: Optional[Callable[[], str]] = None,
         ) -> Tuple[TracingConfig, List[str]]:
    """The settings a run can have with the packages installed here, and one
    sentence per missing extra.

    :param fallback_file: where an ``otlp`` run without its exporter writes
        its trace (default: the ``file`` provider's default)
    """
    messages: List[str] = []
    changes: Dict[str, Any] = {}
    provider = config.provider
    if provider == "otlp":
        module, _ = _OTLP.get(config.otlp_protocol, _OTLP["http/protobuf"])
        if not (installed(_SDK) and installed(module)):
            path = config.file or _default_file(fallback_file)
            messages.append(f"{provider_needs(config)}; the trace is written "
                            f"to {path} instead")
            changes.update(provider="file", file=path)
            provider = "file"
        elif config.vendor == "aws" and not installed(_AWS_IDS):
            messages.append(vendor_needs(config))
            changes["vendor"] = None
    propagation = config.propagation
    if "xray" in propagation and not installed(PROPAGATORS["xray"][0]):
        propagation = tuple(f for f in propagation if f != "xray")
        messages.append(
            f"{_propagation(config, 'xray')} needs the aws extra: "
            f"{install_hint('aws')}; requests carry "
            + (_formats(propagation) if propagation else "no trace header"))
        changes["propagation"] = propagation
    impact = impact_needs(config)
    if impact:
        messages.append(impact)
        changes["impact"] = False
    instrument, message = _instrumentations(config)
    if message:
        messages.append(message)
        changes["instrument"] = instrument
    if any(n in INSTRUMENTATIONS for n in instrument):
        missing = [f for f in propagation if f in PROPAGATORS
                   and PROPAGATORS[f][1] == "instrument"
                   and not installed(PROPAGATORS[f][0])]
        if missing:
            messages.append(
                f"{_propagation(config, *missing)} on tracing_instrument's "
                f"clients needs OpenTelemetry's propagators: "
                f"{install_hint('instrument')}; their requests carry "
                + _formats(tuple(f for f in propagation if f not in missing)))
    return (replace(config, **changes) if changes else config), messages


def validate(configuration: Mapping[str, Any], arguments: Mapping[str, Any],
             derived: Optional[Mapping[str, str]] = None) -> List[str]:
    """What :func:`plan` will say of the settings written in an experiment
    (for ``chaos validate``): the same sentences."""
    config = planned(configuration, arguments, derived)
    if config is None:
        return []
    return plan(config)[1]


def _instrumentations(config: TracingConfig) -> Tuple[Tuple[str, ...], str]:
    """The clients of ``tracing_instrument`` that can be traced, and the
    sentence about the others (``""``: none missing)."""
    missing = [n for n in config.instrument if n in INSTRUMENTATIONS
               and not installed(INSTRUMENTATIONS[n][1])]
    if not missing:
        return config.instrument, ""
    kept = tuple(n for n in config.instrument if n not in missing)
    source = config.sources.get("tracing_instrument", "")
    flags = [f for f in (compat.oltp_flag(n, source) for n in missing) if f]
    hint = install_hint("instrument")
    after = "; the run is traced without them" if len(missing) > 1 \
        else "; the run is traced without it"
    if len(flags) == len(missing):
        return kept, (f"{compat.OLTP}'s {_and(flags)} "
                      f"need{'s' if len(flags) == 1 else ''} OpenTelemetry's "
                      f"instrumentation{'s' if len(flags) > 1 else ''}: "
                      f"{hint}{after}")
    who = subject("tracing_instrument", _raw(config, "tracing_instrument",
                                             config.instrument), source)
    whose = "whose OpenTelemetry instrumentations are" if len(missing) > 1 \
        else "whose OpenTelemetry instrumentation is"
    return kept, (f"{who} lists {_and(missing)}, {whose} not installed: "
                  f"{hint}{after}")


def asked_for(config: TracingConfig, name: str) -> str:
    """Who asked to trace client ``name``, as a message starts:
    ``tracing_instrument lists httpx``,
    ``CHAOSTRACING_INSTRUMENT=httpx lists httpx``, or
    ``chaostracing.oltp's trace_httpx asks for httpx``."""
    source = config.sources.get("tracing_instrument", "")
    flag = compat.oltp_flag(name, source)
    if flag:
        return f"{compat.OLTP}'s {flag} asks for {name}"
    who = subject("tracing_instrument",
                  _raw(config, "tracing_instrument", config.instrument),
                  source)
    return f"{who} lists {name}"


def _setting(config: TracingConfig, key: str, shown: str) -> str:
    """``tracing_provider 'otlp'``, ``CHAOSTRACING_PROVIDER=otlp`` or
    ``chaostracing.oltp``: the setting as its source names it."""
    source = config.sources.get(key, "")
    if source.startswith("$"):
        return subject(key, _raw(config, key, shown), source)
    named = subject(key, shown, source)
    if named == compat.OLTP:
        return named
    return f"{named} {shown}"


def _propagation(config: TracingConfig, *formats: str) -> str:
    """``'xray' in tracing_propagation``, as its source names it."""
    shown = _and([repr(f) for f in formats])
    source = config.sources.get("tracing_propagation")
    if source is None:
        if "xray" in formats and config.vendor == "aws":
            return f"{shown} (the trace header tracing_vendor 'aws' adds)"
        return f"{shown} (a default trace header of tracing_propagation)"
    value = _raw(config, "tracing_propagation", config.propagation)
    return f"{shown} in {subject('tracing_propagation', value, source)}"


def _raw(config: TracingConfig, key: str, value: Any) -> Any:
    """The text of an environment variable a setting came from, else
    ``value``."""
    source = config.sources.get(key, "")
    if source.startswith("$"):
        return os.environ.get(source[1:], value)
    return value


def _formats(formats: Tuple[str, ...]) -> str:
    names = {"w3c": "W3C's", "jaeger": "Jaeger's", "b3": "B3's",
             "baggage": "W3C baggage", "xray": "X-Ray's"}
    return _and([names.get(f, f) for f in formats]) + " headers"


def _and(items: List[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _default_file(fallback_file: Optional[Callable[[], str]]) -> str:
    if fallback_file is not None:
        return fallback_file()
    from chaostracing._run.providers.file import default_path

    return os.path.abspath(default_path())
