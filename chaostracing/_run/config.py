"""The tracing settings: one table, read into one validated
:class:`TracingConfig`.

Each setting (:data:`SETTINGS`) has a key, a parser that says what it
expects, a default, the environment variables read for it, the providers
that use it and a line of help. :func:`load_config`, :func:`validate` (for
``chaos validate``), the warnings at run time and the settings table of
the documentation (:func:`settings_markdown`) all come from it.

Three sources are merged, the first that sets a key wins:

1. the control's ``arguments`` (``provider.arguments`` of the control block),
2. the experiment's ``configuration``,
3. environment variables (``CHAOSTRACING_<NAME>`` for every setting, and the
   standard ``JAEGER_AGENT_HOST`` / ``JAEGER_AGENT_PORT`` /
   ``JAEGER_SERVICE_NAME`` / ``OTEL_SERVICE_NAME``).

An empty string means "not set here" (the original README's example ships
``"tracing_host": ""``). Nothing configured means no tracing (provider
``noop``); ``tracing_host`` alone selects ``jaeger``, ``tracing_file``
alone selects ``file``. Only the settings the chosen provider uses are
checked: a bad ``tracing_port`` does not switch off the ``file`` provider,
which has no port.

chaostoolkit-opentracing 0.18.1's names for these settings are read as
ours before anything else (:mod:`chaostracing._run.compat`).
"""
from dataclasses import dataclass, field, replace
from typing import (
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from chaostracing._run import compat
from chaostracing._run.propagation import DEFAULT_FORMATS, FORMATS

__all__ = [
    "ConfigError",
    "PROVIDERS",
    "SETTINGS",
    "Setting",
    "TracingConfig",
    "load_config",
    "settings_markdown",
    "unknown_keys",
    "validate",
]

PROVIDERS = ("jaeger", "otlp", "file", "noop")
ALIASES = {"opentelemetry": "otlp"}
PROPAGATION_FORMATS = FORMATS
#: OpenTelemetry's names for our formats (``OTEL_PROPAGATORS``): its ``b3``
#: is the single header, which every B3 reader reads as it reads ours
PROPAGATION_ALIASES = {"tracecontext": "w3c", "b3multi": "b3"}
#: what a bad value costs, said on its line (one line per problem)
TRACING_OFF = "; tracing is off until it is fixed"
_ALL = ("jaeger", "otlp", "file")
#: where the probes ask when nothing says otherwise
DEFAULT_QUERY_URL = "http://127.0.0.1:16686"
_EXPORTING = ("jaeger", "otlp")


class ConfigError(ValueError):
    """Tracing settings we cannot use; ``problems`` holds one sentence per
    bad setting, each naming the key and what is expected."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


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
    #: longest wait, in seconds, for spans to be delivered at cleanup
    flush_timeout: float = 2.0
    #: spans held in memory at most before new ones are dropped and counted
    max_queue_size: int = 100_000
    #: trace-context headers written by ``inject``
    propagation: Tuple[str, ...] = DEFAULT_FORMATS
    #: the name of Jaeger's trace header (0.18.1's ``tracing_id_name``)
    trace_header: str = "uber-trace-id"
    #: the prefix of Jaeger's baggage headers
    baggage_prefix: str = "uberctx-"
    #: the ``file`` provider's output (default: next to the journal)
    file: Optional[str] = None
    #: the ``file`` provider also writes the HTML report: ``True`` (next to
    #: the journal) or a path
    report: Any = None
    #: Jaeger UI's base URL, to log and record a link to the trace
    ui_url: Optional[str] = None
    #: the Jaeger query service the probes ask, and the end-of-run impact
    query_url: str = DEFAULT_QUERY_URL
    #: compute the run's impact at its end, from ``query_url``'s spans
    impact: bool = False
    #: seconds of baseline before the method for that impact
    impact_baseline: float = 60.0
    #: seconds waited at most for the services' late spans before it
    impact_wait: float = 10.0
    #: trace every ``requests`` call of the run (chaoslib's HTTP provider
    #: included) and carry the trace headers to the system under test
    instrument_requests: bool = False
    #: client libraries traced for the whole run (``requests`` included when
    #: ``instrument_requests``)
    instrument: Tuple[str, ...] = ()
    #: OTLP: ``http/protobuf`` or ``grpc``
    otlp_protocol: str = "http/protobuf"
    #: OTLP: the endpoint URL, when given whole
    otlp_endpoint: Optional[str] = None
    #: OTLP: headers sent with every export (API keys...); never logged
    otlp_headers: Dict[str, str] = field(default_factory=dict, compare=False,
                                         repr=False)
    #: OTLP over gRPC without TLS
    otlp_insecure: bool = False
    #: ``aws``: X-Ray trace ids and propagation; ``gcp``, ``azure``: OTLP
    vendor: Optional[str] = None
    #: what is not wrong but worth one warning (an unknown client library)
    notes: Tuple[str, ...] = field(default=(), compare=False)
    #: the experiment's title, a process tag / resource attribute
    experiment_title: Optional[str] = None
    #: where each setting came from: ``"control arguments"``,
    #: ``"configuration"`` (each with ``":name"`` when 0.18.1's name was
    #: used), ``"$ENV_NAME"``, or what set it for the user
    #: (``"chaostracing.oltp..."``): :func:`subject` words it
    sources: Dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def enabled(self) -> bool:
        return self.provider != "noop"


###############################################################################
# Parsers: each returns the value or raises ValueError("expected ...")
###############################################################################
def _text(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError("expected a non-empty string")


def _host(value: Any) -> str:
    host = _text(value)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # "[::1]" as written in URLs
    if any(c.isspace() for c in host) or "/" in host or "@" in host:
        raise ValueError("expected a host name or an IP address")
    return host


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        if number is None or not low <= number <= high:
            raise ValueError(f"expected an integer from {low} to {high}")
        return number

    # what the README's table says a setting expects
    parse.expected = (  # type: ignore[attr-defined]
        f"an integer from {low} to {high}")
    return parse


def _number(low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                number = None
        if number is None or not low <= number <= high:
            raise ValueError(f"expected a number from {low:g} to {high:g}")
        return number

    parse.expected = (  # type: ignore[attr-defined]
        f"a number from {low:g} to {high:g}")
    return parse


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("expected true or false")


def _formats(value: Any) -> Tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    names: Tuple[str, ...] = ()
    if isinstance(items, (list, tuple)) and items:
        names = tuple(
            str(i).strip().lower() for i in items if str(i).strip()
        )
        if names == ("none",):  # OpenTelemetry's: no header at all
            return ()
        names = tuple(PROPAGATION_ALIASES.get(n, n) for n in names)
        if names and all(n in PROPAGATION_FORMATS for n in names):
            return tuple(dict.fromkeys(names))
    known = PROPAGATION_FORMATS + tuple(PROPAGATION_ALIASES)
    wrong = next((n for n in names if n not in known), None)
    raise ValueError(
        "expected a list of " + ", ".join(repr(f) for f in PROPAGATION_FORMATS)
        + " (or OpenTelemetry's names: 'tracecontext', 'b3multi', 'none')"
        + _closest(wrong, known, "'{}'")
    )


def _report(value: Any) -> Any:
    try:
        return _boolean(value) or None
    except ValueError:
        pass
    try:
        return _text(value)
    except ValueError:
        raise ValueError("expected true, false or a file path") from None


def _url(value: Any) -> str:
    url = _text(value)
    if not url.startswith(("http://", "https://")):
        raise ValueError(
            "expected an http:// or https:// URL such as http://localhost:16686"
        )
    return url.rstrip("/")


def _header_name(value: Any) -> str:
    name = _text(value).lower()
    if not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError("expected an HTTP header name (letters, digits, -, _)")
    return name


#: what ``tracing_instrument`` accepts
INSTRUMENTABLE = ("requests", "urllib3", "httpx", "botocore", "aiohttp")
VENDORS = ("aws",) + compat.VENDORS
OTLP_PROTOCOLS = ("http/protobuf", "grpc")


def _names(value: Any) -> Tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, (list, tuple)):
        names = tuple(str(i).strip().lower() for i in items if str(i).strip())
        return tuple(dict.fromkeys(names))
    raise ValueError(
        "expected a list of " + ", ".join(repr(n) for n in INSTRUMENTABLE))


def _instrument_notes(names: Tuple[str, ...], subject: str) -> List[str]:
    return [
        f"{subject} lists {name!r}, which is not a client library "
        f"chaostracing traces: expected any of "
        + ", ".join(repr(n) for n in INSTRUMENTABLE)
        + _closest(name, INSTRUMENTABLE, "'{}'")
        + "; the others are traced"
        for name in names if name not in INSTRUMENTABLE
    ]


def _headers(value: Any) -> Dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        pairs = [p for p in value.split(",") if p.strip()]
        if all("=" in p for p in pairs):
            return {k.strip(): v.strip() for k, _, v in
                    (p.partition("=") for p in pairs)}
    raise ValueError(
        "expected a mapping, or name=value pairs separated by commas")


def _one_of(choices: Tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise ValueError(
            "expected one of " + ", ".join(repr(c) for c in choices)
            + _closest(value, choices, "'{}'"))

    return parse


def _provider(value: Any) -> str:
    if isinstance(value, str):
        name = ALIASES.get(value.strip().lower(), value.strip().lower())
        if name in PROVIDERS:
            return name
    raise ValueError(
        "expected one of " + ", ".join(repr(p) for p in PROVIDERS)
        + " (or 'opentelemetry')" + _closest(value, PROVIDERS, "'{}'")
    )


###############################################################################
# The table
###############################################################################
class Setting:
    """One tracing setting (a plain class: a dataclass's methods would be
    generated and compiled during the control's import).

    :param key: the ``tracing_*`` key
    :param attribute: the TracingConfig attribute it fills
    :param parse: returns the value, or raises ``ValueError("expected ...")``
    :param default_text: what the documentation shows as the default
    :param help: what the documentation says it does
    :param env: environment variables read for it after ``CHAOSTRACING_<NAME>``
    :param providers: the providers that use it: only those check it
    :param notes: returns warnings about a parsed value that is still used,
        given the value and the setting's :func:`subject`
    """

    __slots__ = ("key", "attribute", "parse", "default_text", "help",
                 "env_names", "providers", "notes")

    def __init__(
        self,
        key: str,
        attribute: str,
        parse: Callable[[Any], Any],
        default_text: str,
        help: str,
        env: Tuple[str, ...] = (),
        providers: Tuple[str, ...] = _ALL,
        notes: Optional[Callable[[Any, str], List[str]]] = None,
    ) -> None:
        self.key = key
        self.attribute = attribute
        self.parse = parse
        self.default_text = default_text
        self.help = help
        own = "CHAOSTRACING_" + key[len("tracing_"):].upper()
        self.env_names = (own,) + tuple(e for e in env if e != own)
        self.providers = providers
        #: warnings about a value that is used anyway
        self.notes = notes


SETTINGS: Tuple[Setting, ...] = (
    Setting("tracing_provider", "provider", _provider, "*(none: tracing off)*",
            "`jaeger` (UDP to an agent), `otlp` (OTLP/HTTP), `file` (a Jaeger "
            "JSON file), or `noop` to switch tracing off explicitly",
            providers=PROVIDERS),
    Setting("tracing_host", "host", _host, "`127.0.0.1`",
            "the Jaeger agent's (or OTLP endpoint's) host name or IP address "
            "(`::1` works)", env=("JAEGER_AGENT_HOST",), providers=_EXPORTING),
    Setting("tracing_port", "port", _integer(1, 65535),
            "`6831` (`4318` for otlp)",
            "the agent's UDP port (Thrift compact), or the OTLP/HTTP port",
            env=("JAEGER_AGENT_PORT",), providers=_EXPORTING),
    Setting("tracing_service_name", "service_name", _text, "`chaostoolkit`",
            "the service name the spans are reported under",
            env=("JAEGER_SERVICE_NAME", "OTEL_SERVICE_NAME")),
    Setting("tracing_sampler_rate", "sampler_rate", _number(0.0, 1.0), "`1.0`",
            "fraction of runs traced; `1.0` keeps every span"),
    Setting("tracing_max_tag_length", "max_tag_length",
            _integer(16, 65000), "`1024`",
            "longest tag/log value sent; longer ones are cut (after secrets "
            "are masked) and end in `...[truncated; N chars in all]`"),
    Setting("tracing_flush_timeout", "flush_timeout", _number(0.0, 60.0),
            "`2.0`",
            "longest wait, in seconds, for spans to be delivered at the end "
            "of the run"),
    Setting("tracing_max_queue_size", "max_queue_size",
            _integer(1, 10_000_000), "`100000`",
            "spans held at most while waiting to be sent; more are dropped "
            "and counted"),
    Setting("tracing_propagation", "propagation", _formats,
            "`[\"w3c\", \"jaeger\"]`",
            "trace headers written by `inject` (any of them is read): `w3c` "
            "(`traceparent`, `tracestate`; OpenTelemetry's `tracecontext`), "
            "`jaeger` (`uber-trace-id`), `b3` (`X-B3-*`; `b3multi`), "
            "`baggage` (W3C's), `xray` (`X-Amzn-Trace-Id`, the `[aws]` "
            "extra), or `none`; see [Trace headers](clients.md#trace-headers)"),
    Setting("tracing_id_name", "trace_header", _header_name,
            "`uber-trace-id`",
            "the name of the Jaeger trace header (as in 0.18.1)"),
    Setting("tracing_baggage_prefix", "baggage_prefix", _header_name,
            "`uberctx-`", "the prefix of Jaeger baggage headers"),
    Setting("tracing_file", "file", _text,
            "`chaostracing-trace.json` next to the journal",
            "the `file` provider's output (and an `otlp` run's, when the "
            "OTLP exporter is not installed)", providers=("file", "otlp")),
    Setting("tracing_report", "report", _report, "`false`",
            "the `file` provider also writes the HTML report of the run: "
            "`true` (`chaostracing-report.html` next to the journal) or a path",
            providers=("file",)),
    Setting("tracing_instrument_requests", "instrument_requests", _boolean,
            "`false`",
            "trace every `requests` call of the run, chaoslib's `http` "
            "provider included: each is a client span under its activity and "
            "carries the trace headers to the system under test"),
    Setting("tracing_instrument", "instrument", _names, "*(none)*",
            "client libraries traced for the whole run, each request a client "
            "span carrying the trace headers: any of `requests`, `urllib3`, "
            "`httpx`, `botocore`, `aiohttp` (see [Tracing other "
            "clients](clients.md))", notes=_instrument_notes),
    Setting("tracing_otlp_protocol", "otlp_protocol",
            _one_of(OTLP_PROTOCOLS), "`http/protobuf`",
            "OTLP over HTTP (`http/protobuf`) or `grpc` (the `[grpc]` extra)",
            env=("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                 "OTEL_EXPORTER_OTLP_PROTOCOL"), providers=("otlp",)),
    Setting("tracing_otlp_endpoint", "otlp_endpoint", _text,
            "*(from host and port, else `OTEL_EXPORTER_OTLP_*`)*",
            "the OTLP endpoint, whole (`http://collector:4318/v1/traces`, or "
            "`collector:4317` for gRPC)", providers=("otlp",)),
    Setting("tracing_otlp_headers", "otlp_headers", _headers, "*(none)*",
            "headers sent with every OTLP export (API keys...): a mapping or "
            "`name=value,...`; never logged", providers=("otlp",)),
    Setting("tracing_otlp_insecure", "otlp_insecure", _boolean, "`false`",
            "OTLP over gRPC without TLS", providers=("otlp",)),
    Setting("tracing_vendor", "vendor", _one_of(VENDORS), "*(none)*",
            "`aws`: AWS X-Ray trace ids and propagation (the `[aws]` extra); "
            "`gcp`, `azure`: see [Migrating from 0.18.1](migrating.md)",
            env=compat.ENV_NAMES["tracing_vendor"], providers=("otlp",)),
    Setting("tracing_ui_url", "ui_url", _url, "*(none)*",
            "Jaeger UI's address (e.g. `http://localhost:16686`, or "
            "`chaostracing collect`'s): the run logs and records a link to "
            "its trace"),
    Setting("tracing_query_url", "query_url", _url,
            f"`{DEFAULT_QUERY_URL}`",
            "the Jaeger query service [`chaostracing.probes`]"
            "(probes.md) ask (Jaeger's, or `chaostracing "
            "collect`'s), and where `tracing_impact` reads the system's "
            "spans", providers=()),
    Setting("tracing_impact", "impact", _boolean, "`false`",
            "at the end of the run, compare the system's spans during the "
            "method with the baseline before it, log one summary line and "
            "store the [impact](impact.md) in the journal (the `[impact]` "
            "extra); with or without a `tracing_provider`",
            providers=PROVIDERS),
    Setting("tracing_impact_baseline", "impact_baseline",
            _number(1.0, 86400.0), "`60`",
            "seconds of baseline before the method, for `tracing_impact`",
            providers=PROVIDERS),
    Setting("tracing_impact_wait", "impact_wait", _number(0.0, 600.0), "`10`",
            "seconds `tracing_impact` waits at most for the services' late "
            "spans (OpenTelemetry's SDK batches them for 5 s): it stops as "
            "soon as every busy service sent a span that started after the "
            "run", providers=PROVIDERS),
)
_BY_KEY = {s.key: s for s in SETTINGS}
KNOWN_KEYS = tuple(_BY_KEY)

_PROVIDER_DEFAULTS = {
    "otlp": {"port": 4318},
}


###############################################################################
# Loading and validating
###############################################################################
def load_config(
    configuration: Optional[Mapping[str, Any]] = None,
    arguments: Optional[Mapping[str, Any]] = None,
    environ: Optional[Mapping[str, str]] = None,
    derived: Optional[Mapping[str, str]] = None,
) -> TracingConfig:
    """Merge and validate the tracing settings.

    :param derived: control arguments a control set for the user, and what
        to name as their source (``chaostracing.oltp`` turns its
        ``trace_*`` flags into ``tracing_instrument``): messages name that,
        not a setting the user never wrote
    :raises ConfigError: listing every setting the chosen provider uses
        whose value is of the wrong type or out of range, each naming where
        the value came from.

    >>> load_config({"tracing_provider": "jaeger"}, environ={}).port
    6831
    """
    import os

    environ = os.environ if environ is None else environ
    raw, sources = _merge(configuration or {}, arguments or {}, environ)
    for key, source in (derived or {}).items():
        if sources.get(key) == "control arguments":
            sources[key] = source
    problems: List[str] = []
    provider = _provider_of(raw, problems)
    if provider is None:
        raise ConfigError(problems)
    if provider == "otlp":
        # the Jaeger agent's variables do not point at an OTLP endpoint
        for key in ("tracing_host", "tracing_port"):
            if sources.get(key, "").startswith("$JAEGER_"):
                raw.pop(key)
                sources.pop(key)
    values: Dict[str, Any] = {"provider": provider, "sources": sources}
    values.update(_PROVIDER_DEFAULTS.get(provider, {}))
    values.update(_parse(raw, sources, provider, problems))
    if problems:
        raise ConfigError(problems)
    if values.get("vendor") == "aws" and "tracing_propagation" not in raw:
        # AWS X-Ray reads X-Amzn-Trace-Id
        values["propagation"] = values.get(
            "propagation", DEFAULT_FORMATS) + ("xray",)
    return TracingConfig(**values)


def _parse(
    raw: Mapping[str, Any], sources: Mapping[str, str],
    provider: Optional[str], problems: List[str]
) -> Dict[str, Any]:
    """Parse the settings ``provider`` uses (all of them when ``None``)."""
    values = {}
    for setting in SETTINGS[1:]:
        key = setting.key
        if key not in raw:
            continue
        if provider is not None and provider not in setting.providers:
            continue
        source = sources.get(key, "")
        try:
            values[setting.attribute] = setting.parse(raw[key])
        except ValueError as error:
            # a setting no provider uses (the probes') leaves tracing on
            problems.append(_problem(key, raw[key], error, source) + (
                TRACING_OFF if setting.providers else ""))
            continue
        if setting.notes is not None:
            values.setdefault("notes", ())
            values["notes"] += tuple(setting.notes(
                values[setting.attribute], subject(key, raw[key], source)))
    instrument = values.get("instrument", ())
    if values.get("instrument_requests") and "requests" not in instrument:
        instrument = ("requests",) + instrument
    if instrument:
        values["instrument"] = tuple(
            n for n in instrument if n in INSTRUMENTABLE)
    return values


def validate(
    configuration: Optional[Mapping[str, Any]] = None,
    arguments: Optional[Mapping[str, Any]] = None,
) -> List[str]:
    """Every problem with the tracing settings written in an experiment:
    bad values, unknown control arguments, misspelled ``tracing_*`` keys.

    Values only known at run time (``${...}`` substitutions, chaoslib
    ``{"type": "env", ...}`` references) are not checked.
    """
    configuration = configuration or {}
    arguments = arguments or {}
    problems = unknown_keys(configuration, arguments)
    raw, sources = _merge(_static(configuration), _static(arguments), {})
    provider = _provider_of(raw, problems, sources)
    if "tracing_provider" not in raw:
        provider = None  # chosen at run time: any provider may use them
    problems.extend(
        _parse(raw, sources, provider, problems).get("notes", ()))
    if provider is not None:  # the settings no provider uses (the probes')
        _parse({s.key: raw[s.key] for s in SETTINGS
                if not s.providers and s.key in raw}, sources, None, problems)
    return problems


def planned(
    configuration: Mapping[str, Any], arguments: Mapping[str, Any],
    derived: Optional[Mapping[str, str]] = None,
) -> Optional[TracingConfig]:
    """The settings ``chaos validate`` can know a run will have: the values
    written in the experiment (as :func:`validate` reads them), a provider
    chosen at run time standing as ``file``. ``None`` when a value is bad
    (:func:`validate` says which) or tracing is off."""
    configuration = _static(configuration or {})
    arguments = _static(arguments or {})
    raw, _ = _merge(configuration, arguments, {})
    if "tracing_provider" not in raw:
        arguments = dict(arguments, tracing_provider="file")
    try:
        config = load_config(configuration, arguments, {}, derived)
    except ConfigError:
        return None
    return config if config.enabled else None


def _static(values: Mapping[str, Any]) -> Dict[str, Any]:
    """``values`` less those known only at run time."""
    return {
        k: v for k, v in values.items()
        if not (isinstance(v, str) and "${" in v)
        and not (isinstance(v, Mapping) and "type" in v)
    }


def unknown_keys(
    configuration: Mapping[str, Any], arguments: Mapping[str, Any]
) -> List[str]:
    """Sentences about keys that are not settings: any control argument, and
    ``tracing_*`` keys of the configuration (the rest of the configuration
    belongs to the experiment)."""
    problems = []
    for key in arguments:
        if key not in _BY_KEY and key not in compat.KEYS:
            problems.append(
                f"unknown control argument {str(key)!r}{_suggest(key)}")
    for key in configuration:
        if isinstance(key, str) and key.lower().startswith("tracing_") \
                and key not in _BY_KEY and key not in compat.KEYS:
            problems.append(
                f"{key!r} in the configuration is not a tracing setting"
                f"{_suggest(key)}")
    return problems


def resolve(
    key: str,
    configuration: Optional[Mapping[str, Any]] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Any:
    """One setting's value for code outside the control (the probes): from
    the configuration, else its environment variables, else its default.

    :raises ConfigError: naming the key, where it came from and the
        expected value
    """
    import os

    setting = _BY_KEY[key]
    configuration = configuration if isinstance(configuration, Mapping) else {}
    raw, sources = _merge(configuration, {},
                          os.environ if environ is None else environ)
    if key not in raw:
        return getattr(TracingConfig, setting.attribute)
    try:
        return setting.parse(raw[key])
    except ValueError as error:
        raise ConfigError([_problem(key, raw[key], error,
                                    sources.get(key, ""))]) from None


def with_experiment(config: TracingConfig, title: Any) -> TracingConfig:
    """``config`` knowing the experiment's title (a process tag)."""
    if isinstance(title, str) and title:
        return replace(config, experiment_title=title)
    return config


def settings_markdown() -> str:
    """The settings table of ``docs/settings.md`` (its links are relative
    to that page)."""
    lines = ["| key | default | environment | meaning |",
             "|---|---|---|---|"]
    for s in SETTINGS:
        env = ", ".join(f"`{e}`" for e in s.env_names)
        lines.append(f"| `{s.key}` | {s.default_text} | {env} | {s.help} |")
    return "\n".join(lines) + "\n"


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
    given = arguments, configuration
    arguments = compat.translate(arguments, arguments=True)
    configuration = compat.translate(configuration)
    for setting in SETTINGS:
        key = setting.key
        if _is_set(arguments.get(key)):
            raw[key] = arguments[key]
            sources[key] = "control arguments" + _named(key, given[0], True)
        elif _is_set(configuration.get(key)):
            raw[key] = configuration[key]
            sources[key] = "configuration" + _named(key, given[1], False)
        else:
            for name in setting.env_names:
                if environ.get(name):
                    raw[key], sources[key] = environ[name], f"${name}"
                    break
    compat.carry_unmapped(raw, sources, arguments, configuration)
    return raw, sources


def _named(key: str, given: Mapping[str, Any], arguments: bool) -> str:
    """``":name"`` when the user wrote 0.18.1's name for ``key``."""
    if key in given:
        return ""
    old = compat.original_name(key, given, arguments)
    return f":{old}" if old else ""


def _provider_of(raw: Dict[str, Any], problems: List[str],
                 sources: Optional[Mapping[str, str]] = None
                 ) -> Optional[str]:
    legacy = compat.exporter_problem(raw)
    if legacy is not None:  # a 0.18.1 exporter we do not have
        problems.append(legacy + TRACING_OFF)
        return None
    value = raw.get("tracing_provider")
    if value is None:
        if "tracing_host" in raw:
            return "jaeger"
        if "tracing_file" in raw:
            return "file"
        return "noop"
    try:
        return _provider(value)
    except ValueError as error:
        source = (sources or {}).get("tracing_provider", "")
        problems.append(_problem("tracing_provider", value, error, source)
                        + TRACING_OFF)
        return None


def subject(key: str, value: Any, source: str) -> str:
    """How a message names a setting, by where it came from:
    ``CHAOSTRACING_PORT=abc`` for an environment variable, the key (or
    0.18.1's name the user wrote) for the configuration, ``... in the
    control's arguments`` for those, or what set it for the user
    (``chaostracing.oltp``)."""
    if source.startswith("$"):
        from chaostracing._data.text import safe_str

        return f"{source[1:]}={_printable(safe_str(value))}"
    where, _, name = source.partition(":")
    if where == compat.OLTP:
        return where
    name = name or key
    if where == "control arguments":
        return f"{name} in the control's arguments"
    return name


def _problem(key: str, value: Any, error: ValueError, source: str = "") -> str:
    """One sentence: the setting, as its source names it, and what it
    expects."""
    from chaostracing._data.text import safe_repr
    from chaostracing._run.redact import hide_credentials

    if isinstance(value, str):  # a URL's password is never printed
        value = hide_credentials(value)
    named = subject(key, value, source)
    if source.startswith("$"):
        return f"{named}: {error}"
    where, _, name = source.partition(":")
    if where == "control arguments":
        return (f"{name or key} is {safe_repr(value, 80)} in the control's "
                f"arguments: {error}")
    return f"{named} is {safe_repr(value, 80)}: {error}"


def _printable(text: str, limit: int = 80) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return shown + ("..." if len(text) > limit else "")


def _is_set(value: Any) -> bool:
    return value is not None and value != ""


def _suggest(key: Any) -> str:
    return _closest(key, KNOWN_KEYS, "{}") or (
        "; expected one of " + ", ".join(KNOWN_KEYS))


def _closest(word: Any, choices: Sequence[str], form: str) -> str:
    """`` (did you mean X?)`` for a near miss, else ``""``."""
    import difflib  # only ever needed for a misspelling

    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.7)
    return f" (did you mean {form.format(close[0])}?)" if close else ""
