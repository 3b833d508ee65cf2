"""Read the tracing settings of a run into one validated :class:`TracingConfig`.

Three sources are merged, the first that sets a key wins:

1. the control's ``arguments`` (``provider.arguments`` of the control block),
2. the experiment's ``configuration``,
3. environment variables (``CHAOSTRACING_PROVIDER``, the standard
   ``JAEGER_AGENT_HOST`` / ``JAEGER_AGENT_PORT`` and ``JAEGER_SERVICE_NAME``).

Nothing configured means no tracing: :func:`load_config` then returns a
config whose ``provider`` is ``"noop"``. Setting ``JAEGER_AGENT_HOST`` alone
is enough to select the ``jaeger`` provider.

Bad values raise :class:`ConfigError`, whose message names the key, the value
received and what is expected: it is shown to the user as it is.
"""
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

__all__ = [
    "ConfigError",
    "PROVIDERS",
    "TracingConfig",
    "load_config",
    "validate_arguments",
]
logger = logging.getLogger("chaostoolkit")

PROVIDERS = ("jaeger", "otlp", "file", "noop")
ALIASES = {"opentelemetry": "otlp"}
DEFAULT_PORTS = {"jaeger": 6831, "otlp": 4318}
DEFAULT_PROPAGATION = {"otlp": ("w3c",)}

# key -> environment variables read for it, in order
_ENV_KEYS = {
    "tracing_provider": ("CHAOSTRACING_PROVIDER",),
    "tracing_host": ("JAEGER_AGENT_HOST",),
    "tracing_port": ("JAEGER_AGENT_PORT",),
    "tracing_service_name": ("JAEGER_SERVICE_NAME", "OTEL_SERVICE_NAME"),
    "tracing_file": ("CHAOSTRACING_FILE",),
    "tracing_ui_url": ("CHAOSTRACING_UI_URL",),
}
_KNOWN_KEYS = (
    "tracing_provider",
    "tracing_host",
    "tracing_port",
    "tracing_service_name",
    "tracing_sampler_rate",
    "tracing_max_tag_length",
    "tracing_flush_timeout",
    "tracing_max_queue_size",
    "tracing_propagation",
    "tracing_file",
    "tracing_ui_url",
    "tracing_instrument_requests",
)
PROPAGATION_FORMATS = ("jaeger", "w3c", "b3")


class ConfigError(ValueError):
    """A tracing setting has a value we cannot use."""


@dataclass(frozen=True)
class TracingConfig:
    """The validated tracing settings of one run."""

    provider: str = "noop"
    host: str = "127.0.0.1"
    port: int = 6831
    service_name: str = "chaostoolkit"
    #: fraction of traces kept, 1.0 keeps every span
    sampler_rate: float = 1.0
    #: longest tag or log value sent, longer ones are cut with a marker
    max_tag_length: int = 1024
    #: longest wait, in seconds, for spans to reach the agent at cleanup
    flush_timeout: float = 2.0
    #: spans held in memory at most before new ones are dropped and counted
    max_queue_size: int = 100_000
    #: trace-context headers written by ``inject``
    propagation: Tuple[str, ...] = ("jaeger",)
    #: the ``file`` provider's output (default: next to the journal)
    file: Optional[str] = None
    #: Jaeger UI's base URL, to log and record a link to the trace
    ui_url: Optional[str] = None
    #: the experiment's title, a resource attribute of the otlp provider
    experiment_title: Optional[str] = None
    #: trace every ``requests`` call of the run (chaoslib's HTTP provider
    #: included) and carry the trace headers to the system under test
    instrument_requests: bool = False
    #: where each setting came from, for the log line at start-up
    sources: Dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def enabled(self) -> bool:
        return self.provider != "noop"


def load_config(
    configuration: Optional[Mapping[str, Any]] = None,
    arguments: Optional[Mapping[str, Any]] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> TracingConfig:
    """Merge and validate the tracing settings.

    :raises ConfigError: when a value is of the wrong type or out of range.

    >>> load_config({"tracing_provider": "jaeger"}).port
    6831
    """
    if environ is None:
        environ = os.environ
    raw, sources = _merge(configuration or {}, arguments or {}, environ)

    provider = raw.get("tracing_provider")
    if provider is None:
        if "tracing_host" in raw:
            provider = "jaeger"
        elif "tracing_file" in raw:
            provider = "file"
        else:
            provider = "noop"
    if isinstance(provider, str):
        provider = ALIASES.get(provider.strip().lower(), provider)
    provider = _choice("tracing_provider", provider, PROVIDERS)
    if provider == "otlp":
        # the Jaeger agent's variables do not point at an OTLP endpoint
        for key in ("tracing_host", "tracing_port"):
            if sources.get(key, "").startswith("$JAEGER_"):
                raw.pop(key)
                sources.pop(key)

    values: Dict[str, Any] = {"provider": provider, "sources": sources}
    if "tracing_host" in raw:
        values["host"] = _host(raw["tracing_host"])
    values["port"] = _int(
        "tracing_port",
        raw.get("tracing_port", DEFAULT_PORTS.get(provider, 6831)),
        1,
        65535,
    )
    if "tracing_service_name" in raw:
        values["service_name"] = _text(
            "tracing_service_name", raw["tracing_service_name"]
        )
    if "tracing_sampler_rate" in raw:
        values["sampler_rate"] = _float(
            "tracing_sampler_rate", raw["tracing_sampler_rate"], 0.0, 1.0
        )
    if "tracing_max_tag_length" in raw:
        values["max_tag_length"] = _int(
            "tracing_max_tag_length", raw["tracing_max_tag_length"], 16, 65000
        )
    if "tracing_flush_timeout" in raw:
        values["flush_timeout"] = _float(
            "tracing_flush_timeout", raw["tracing_flush_timeout"], 0.0, 60.0
        )
    if "tracing_max_queue_size" in raw:
        values["max_queue_size"] = _int(
            "tracing_max_queue_size",
            raw["tracing_max_queue_size"],
            1,
            10_000_000,
        )
    if "tracing_file" in raw:
        values["file"] = _text("tracing_file", raw["tracing_file"])
    if "tracing_ui_url" in raw:
        url = _text("tracing_ui_url", raw["tracing_ui_url"])
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"tracing_ui_url is {url!r}: expected an http:// or https:// "
                "URL such as http://localhost:16686"
            )
        values["ui_url"] = url.rstrip("/")
    if "tracing_instrument_requests" in raw:
        values["instrument_requests"] = _bool(
            "tracing_instrument_requests", raw["tracing_instrument_requests"]
        )
    if "tracing_propagation" in raw:
        values["propagation"] = _formats(raw["tracing_propagation"])
    elif provider in DEFAULT_PROPAGATION:
        values["propagation"] = DEFAULT_PROPAGATION[provider]
    return TracingConfig(**values)


def validate_arguments(arguments: Mapping[str, Any]) -> List[str]:
    """Errors in a control's ``arguments`` block, one sentence each."""
    errors = []
    for key in arguments:
        if key not in _KNOWN_KEYS:
            errors.append(
                f"unknown control argument '{key}': expected one of "
                + ", ".join(_KNOWN_KEYS)
            )
    known = {k: v for k, v in arguments.items() if k in _KNOWN_KEYS}
    try:
        load_config({}, known, environ={})
    except ConfigError as error:
        errors.append(str(error))
    return errors


###############################################################################
# Internals
###############################################################################
def _merge(
    configuration: Mapping[str, Any],
    arguments: Mapping[str, Any],
    environ: Mapping[str, str],
) -> Tuple[Dict[str, Any], Dict[str, str]]:
    raw: Dict[str, Any] = {}
    sources: Dict[str, str] = {}
    for key in _KNOWN_KEYS:
        if _is_set(arguments.get(key)):
            raw[key], sources[key] = arguments[key], "control arguments"
        elif _is_set(configuration.get(key)):
            raw[key], sources[key] = configuration[key], "configuration"
        else:
            for name in _ENV_KEYS.get(key, ()):
                if environ.get(name):
                    raw[key], sources[key] = environ[name], f"${name}"
                    break
    return raw, sources


def _is_set(value: Any) -> bool:
    # the original README's example ships `"tracing_host": ""`: an empty
    # string means "not set here", not "an empty host"
    return value is not None and value != ""


def _choice(key: str, value: Any, allowed: Tuple[str, ...]) -> str:
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    raise ConfigError(
        f"{key} is {value!r}: expected one of "
        + ", ".join(repr(a) for a in allowed)
        + (" (or 'opentelemetry')" if key == "tracing_provider" else "")
    )


def _text(key: str, value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ConfigError(f"{key} is {value!r}: expected a non-empty string")


def _host(value: Any) -> str:
    host = _text("tracing_host", value)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # "[::1]" as written in URLs
    if any(c.isspace() for c in host) or "/" in host:
        raise ConfigError(
            f"tracing_host is {value!r}: expected a host name or an IP address"
        )
    return host


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f"{key} is {value!r}: expected true or false")


def _formats(value: Any) -> Tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, (list, tuple)) and items:
        names = tuple(
            str(i).strip().lower() for i in items if str(i).strip()
        )
        if names and all(n in PROPAGATION_FORMATS for n in names):
            return tuple(dict.fromkeys(names))
    raise ConfigError(
        f"tracing_propagation is {value!r}: expected a list of "
        + ", ".join(repr(f) for f in PROPAGATION_FORMATS)
    )


def _int(key: str, value: Any, low: int, high: int) -> int:
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not low <= number <= high:
        raise ConfigError(
            f"{key} is {value!r}: expected an integer from {low} to {high}"
        )
    return number


def _float(key: str, value: Any, low: float, high: float) -> float:
    number = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not low <= number <= high:
        raise ConfigError(
            f"{key} is {value!r}: expected a number from {low:g} to {high:g}"
        )
    return number
