"""The names chaostracing writes and reads: tags, log fields, process tags,
and the span kinds, each defined once (in the spirit of OpenTelemetry's
``semconv`` modules and OpenTracing's ``opentracing.ext.tags``).

These strings are an output format: dashboards, Jaeger searches and the
probes' ``tags`` filters name them. Never change one; add a new name
beside it instead. A constant is named after its string, upper-cased, with
dots as underscores (``chaostoolkit.status`` is ``CHAOSTOOLKIT_STATUS``);
``tests/test_vocabulary.py`` holds the rule, checks the OpenTracing and
OpenTelemetry names against those libraries' own definitions, and finds any
of these strings written out elsewhere in the package.

The groups:

- ``chaostoolkit.*``: facts of the experiment run (level, status, outputs,
  phase, tolerance), set by the control and read by ``show``/``report``;
  those marked 0.18.1 are set only by the ``chaostracing.oltp`` drop-in,
  under the names 0.18.1's control used;
- ``chaostracing.*``: our own marks (a span rebuilt from a journal, a span
  trimmed to fit a datagram, our version on the process);
- OpenTracing's semantic conventions (``span.kind``, ``error``,
  ``component``, ``http.*``, ``peer.*``, and the error log's ``event``,
  ``error.kind``, ``error.object``, ``message``, ``stack``);
- OpenTelemetry's names as Jaeger maps them (``otel.status_code``,
  ``otel.scope.*``, the exception event, ``service.name``, and the newer
  HTTP names ``http.request.method``, ``http.response.status_code``,
  ``url.*`` that instrumentations write).

:data:`SPAN_KINDS` is the one span-kind table: the ``span.kind`` value,
OTLP's enum value and the name of OpenTelemetry's ``SpanKind`` member
(matched by name, so this module imports nothing).
"""
from typing import Dict, NamedTuple, Optional, Tuple

#: and every upper-case constant below (added at the end)
__all__ = [
    "Kind",
    "kind_of_otel",
    "kind_of_otlp",
    "kind_of_tag",
]

###############################################################################
# chaostoolkit.*: the experiment run
###############################################################################
#: the level of the span: experiment, hypothesis, method, rollback, activity
CHAOSTOOLKIT_TYPE = "chaostoolkit.type"
#: an experiment's or an activity's status as chaoslib reports it
CHAOSTOOLKIT_STATUS = "chaostoolkit.status"
#: the experiment's steady state deviated
CHAOSTOOLKIT_DEVIATED = "chaostoolkit.deviated"
#: why the run stopped early (InterruptExecution, signal)
CHAOSTOOLKIT_INTERRUPTED_BY = "chaostoolkit.interrupted_by"
CHAOSTOOLKIT_EXPERIMENT_TITLE = "chaostoolkit.experiment.title"
#: before, during or after the method
CHAOSTOOLKIT_HYPOTHESIS_PHASE = "chaostoolkit.hypothesis.phase"
#: the continuous hypothesis's run number
CHAOSTOOLKIT_HYPOTHESIS_ITERATION = "chaostoolkit.hypothesis.iteration"
CHAOSTOOLKIT_STEADY_STATE_MET = "chaostoolkit.steady_state_met"
#: a probe of a hypothesis: its tolerance was met
CHAOSTOOLKIT_TOLERANCE_MET = "chaostoolkit.tolerance_met"
#: the number of activities of a method or the rollbacks, and of failed ones
CHAOSTOOLKIT_ACTIVITIES = "chaostoolkit.activities"
CHAOSTOOLKIT_ACTIVITIES_FAILED = "chaostoolkit.activities.failed"
#: an activity's output (masked and cut on export)
CHAOSTOOLKIT_OUTPUT = "chaostoolkit.output"
#: an activity's type (action, probe) and name
CHAOSTOOLKIT_ACTIVITY_TYPE = "chaostoolkit.activity.type"
CHAOSTOOLKIT_ACTIVITY_NAME = "chaostoolkit.activity.name"
CHAOSTOOLKIT_ACTIVITY_BACKGROUND = "chaostoolkit.activity.background"
#: where an activity's code lives (never its arguments)
CHAOSTOOLKIT_PROVIDER_TYPE = "chaostoolkit.provider.type"
CHAOSTOOLKIT_PROVIDER_MODULE = "chaostoolkit.provider.module"
CHAOSTOOLKIT_PROVIDER_FUNC = "chaostoolkit.provider.func"
CHAOSTOOLKIT_PROVIDER_URL = "chaostoolkit.provider.url"
CHAOSTOOLKIT_PROVIDER_PATH = "chaostoolkit.provider.path"
#: process tags: the versions of chaoslib and chaostoolkit
CHAOSTOOLKIT_LIB_VERSION = "chaostoolkit.lib.version"
CHAOSTOOLKIT_VERSION = "chaostoolkit.version"

# set only for 0.18.1's chaostracing.oltp, under 0.18.1's names
CHAOSTOOLKIT_EXPERIMENT_STATUS = "chaostoolkit.experiment.status"
CHAOSTOOLKIT_EXPERIMENT_DEVIATED = "chaostoolkit.experiment.deviated"
CHAOSTOOLKIT_EXPERIMENT_INTERRUPTED = "chaostoolkit.experiment.interrupted"
CHAOSTOOLKIT_EXPERIMENT_EXIT_SIGNAL = "chaostoolkit.experiment.exit_signal"
CHAOSTOOLKIT_HYPOTHESIS_MET = "chaostoolkit.hypothesis.met"
CHAOSTOOLKIT_ACTIVITY_STATUS = "chaostoolkit.activity.status"
CHAOSTOOLKIT_ACTIVITY_OUTPUT = "chaostoolkit.activity.output"
CHAOSTOOLKIT_ACTIVITY_ERROR = "chaostoolkit.activity.error"
CHAOSTOOLKIT_PLATFORM_FULL = "chaostoolkit.platform.full"

###############################################################################
# chaostracing.*: our own marks
###############################################################################
#: a span rebuilt from a Chaos Toolkit journal, not traced (and its process)
CHAOSTRACING_REBUILT = "chaostracing.rebuilt"
#: a span cut down to fit one UDP datagram
CHAOSTRACING_TRIMMED = "chaostracing.trimmed"
#: process tag: the version of chaostracing that sent the spans
CHAOSTRACING_VERSION = "chaostracing.version"
#: the blast_radius probe's span: the services it found impacted, the
#: likely origin among them, and those outside ``allowed`` (comma-separated)
CHAOSTRACING_BLAST_RADIUS = "chaostracing.blast_radius"
CHAOSTRACING_LIKELY_ORIGIN = "chaostracing.likely_origin"
CHAOSTRACING_OUTSIDE_ALLOWED = "chaostracing.outside_allowed"

###############################################################################
# OpenTracing's semantic conventions (opentracing.ext.tags, .logs)
###############################################################################
SPAN_KIND = "span.kind"
ERROR = "error"
COMPONENT = "component"
HTTP_METHOD = "http.method"
HTTP_URL = "http.url"
HTTP_STATUS_CODE = "http.status_code"
PEER_HOSTNAME = "peer.hostname"
PEER_IPV4 = "peer.ipv4"
PEER_IPV6 = "peer.ipv6"
PEER_PORT = "peer.port"
SAMPLER_TYPE = "sampler.type"
SAMPLER_PARAM = "sampler.param"
#: log fields: ``event`` names the log; an error log adds the others
EVENT = "event"
ERROR_KIND = "error.kind"
ERROR_OBJECT = "error.object"
MESSAGE = "message"
STACK = "stack"
#: the ``event`` of an error log
EVENT_ERROR = "error"
#: ``@traced_activity(record_args=...)`` tags: ``arg.<parameter>``
ARG_PREFIX = "arg."

#: Jaeger clients' process tags
JAEGER_VERSION = "jaeger.version"
HOSTNAME = "hostname"
IP = "ip"

###############################################################################
# OpenTelemetry's names, as Jaeger maps OTLP onto its model
###############################################################################
#: a span's status: ``OK`` or ``ERROR`` (with ``error=true``)
OTEL_STATUS_CODE = "otel.status_code"
OTEL_STATUS_DESCRIPTION = "otel.status_description"
STATUS_OK = "OK"
STATUS_ERROR = "ERROR"
#: the instrumentation scope that made the span
OTEL_SCOPE_NAME = "otel.scope.name"
OTEL_SCOPE_VERSION = "otel.scope.version"
#: the resource attribute that names the service (the process's name)
SERVICE_NAME = "service.name"
#: an exception event (``record_exception``) and its attributes
EVENT_EXCEPTION = "exception"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
EXCEPTION_ESCAPED = "exception.escaped"
#: the name an event without an ``event`` field gets in OTLP
EVENT_LOG = "log"
#: where a ``@traced_activity`` function lives
CODE_FUNCTION = "code.function"
CODE_NAMESPACE = "code.namespace"
#: HTTP, as OpenTelemetry's instrumentations write it (stable conventions)
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
URL_FULL = "url.full"
URL_PATH = "url.path"
URL_QUERY = "url.query"
URL_FRAGMENT = "url.fragment"
#: HTTP, older OpenTelemetry names still written by many clients
HTTP_TARGET = "http.target"
HTTP_RETRY_COUNT = "http.retry_count"

#: the tags a span's HTTP status code may be under, oldest name first
HTTP_STATUS_CODES = (HTTP_STATUS_CODE, HTTP_RESPONSE_STATUS_CODE)
#: tags whose values are URLs (their secret-looking parameters are masked)
URL_TAGS = frozenset((HTTP_URL, URL_FULL, HTTP_TARGET, URL_QUERY,
                      URL_FRAGMENT, CHAOSTOOLKIT_PROVIDER_URL))

###############################################################################
# Span kinds: one table
###############################################################################
SERVER = "server"
CLIENT = "client"
PRODUCER = "producer"
CONSUMER = "consumer"
INTERNAL = "internal"


class Kind(NamedTuple):
    """One span kind, as each model writes it."""

    #: the ``span.kind`` tag's value (OpenTracing, Jaeger)
    tag: str
    #: OTLP's ``Span.SpanKind`` value (0 is ``SPAN_KIND_UNSPECIFIED``)
    otlp: int
    #: the member of ``opentelemetry.trace.SpanKind``
    otel: str


#: every span kind; the order is the one messages list them in
SPAN_KINDS: Tuple[Kind, ...] = (
    Kind(SERVER, 2, "SERVER"),
    Kind(CLIENT, 3, "CLIENT"),
    Kind(PRODUCER, 4, "PRODUCER"),
    Kind(CONSUMER, 5, "CONSUMER"),
    Kind(INTERNAL, 1, "INTERNAL"),
)
_BY_TAG: Dict[str, Kind] = {kind.tag: kind for kind in SPAN_KINDS}
_BY_OTLP: Dict[int, Kind] = {kind.otlp: kind for kind in SPAN_KINDS}
_BY_OTEL: Dict[str, Kind] = {kind.otel: kind for kind in SPAN_KINDS}


def kind_of_tag(value: object) -> Optional[Kind]:
    """The kind a ``span.kind`` value names (any case), or ``None``."""
    if not isinstance(value, str):
        return None
    return _BY_TAG.get(value.lower())


def kind_of_otlp(value: int) -> Optional[Kind]:
    """The kind of an OTLP ``Span.SpanKind`` value, ``None`` for
    unspecified (0) or unknown."""
    return _BY_OTLP.get(value)


def kind_of_otel(name: str) -> Optional[Kind]:
    """The kind of an ``opentelemetry.trace.SpanKind`` member's name."""
    return _BY_OTEL.get(name)


__all__ += sorted(name for name in list(globals()) if name.isupper())
