"""The probes' arguments, checked: a bad one fails the activity with a
sentence naming it and what is expected (chaoslib shows it in the journal).

Numbers may come as text: a ``${...}`` substitution gives a string.
"""
import math
from typing import Any, Dict, NamedTuple, Optional

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.spanquery import tag_text
from chaostracing._data.tags import SERVER, SPAN_KIND, SPAN_KINDS

__all__ = [
    "KINDS",
    "Search",
    "min_spans",
    "number",
    "parse_tags",
    "percentile",
    "resolve_query_url",
    "search",
]

#: what ``kind`` accepts (or None for any)
KINDS = tuple(kind.tag for kind in SPAN_KINDS)


class Search(NamedTuple):
    """What a probe looks for, its arguments checked (:func:`search`)."""

    service: str
    #: None for any
    operation: Optional[str]
    #: the window: this many seconds back from now
    seconds: float
    #: lower case; None for any
    kind: Optional[str]
    #: the tags asked for, values as text (``span.kind`` not among them)
    tags: Dict[str, str]
    #: traces asked for at most
    limit: int
    #: seconds to wait for the answer
    timeout: float
    #: the query service's base URL; it may hold credentials, so messages
    #: show it through ``fetch.shown`` (and the repr hides them)
    url: str

    @property
    def wanted(self) -> Dict[str, str]:
        """The tags a matching span has: :attr:`tags`, and ``span.kind``."""
        wanted = dict(self.tags)
        if self.kind:
            wanted[SPAN_KIND] = self.kind
        return wanted

    def __repr__(self) -> str:
        """Never the URL's credentials, wherever a search is printed."""
        from chaostracing._probes.fetch import shown

        return f"Search({self.described(shown(self.url))})"

    def described(self, shown_url: str) -> str:
        """The search as a failure names it (``shown_url``: without
        credentials)."""
        return (
            f"service {self.service!r}"
            + (f", operation {self.operation!r}" if self.operation else "")
            + (f", kind {self.kind!r}" if self.kind else "")
            + (f", tags {self.tags!r}" if self.tags else "")
            + f", in the last {self.seconds:g} s at {shown_url}")


def search(
    *, service: Any, operation: Any = None, window: Any = 60,
    kind: Any = SERVER, tags: Any = None, query_url: Any = None,
    limit: Any, timeout: Any, configuration: Any = None,
) -> Search:
    """The probe's arguments, as chaoslib passed them (``Any``: nothing is
    known of them yet), checked in the order of its signature: the first
    bad one fails the activity."""
    if not isinstance(service, str) or not service:
        raise ActivityFailed(f"service is {service!r}: expected the name of a "
                             "service, as its spans report it")
    if operation is not None and not isinstance(operation, str):
        raise ActivityFailed(f"operation is {operation!r}: expected an "
                             "operation name, or null for any")
    seconds = number(window, "window", "a number of seconds above 0")
    if not 0 < seconds <= 366 * 24 * 3600:
        raise ActivityFailed(f"window is {window!r}: expected a number of "
                             "seconds above 0")
    asked = parse_tags(tags)
    if kind not in (None, ""):
        if not isinstance(kind, str) or kind.lower() not in KINDS:
            raise ActivityFailed(
                f"kind is {kind!r}: expected one of "
                + ", ".join(repr(k) for k in KINDS) + ", or null for any")
    most = number(limit, "limit", "a number of traces, at least 1")
    wait = number(timeout, "timeout", "a number of seconds above 0")
    if most < 1 or most != int(most) or wait <= 0:
        raise ActivityFailed(f"limit is {limit!r} and timeout {timeout!r}: "
                             "expected at least 1 trace and a timeout above 0")
    return Search(
        service=service, operation=operation or None, seconds=seconds,
        kind=kind.lower() if kind else None, tags=asked, limit=int(most),
        timeout=wait, url=resolve_query_url(query_url, configuration))


def percentile(given: Any) -> float:
    rank = number(given, "percentile", "a number above 0, at most 100")
    if not 0 < rank <= 100:
        raise ActivityFailed(f"percentile is {given!r}: expected a number "
                             "above 0, at most 100")
    return rank


def min_spans(given: Any) -> float:
    """The ``min_spans`` argument: 0 or more."""
    least = number(given, "min_spans", "a number of spans, 0 or more")
    if least < 0:
        raise ActivityFailed(f"min_spans is {given!r}: expected a number "
                             "of spans, 0 or more")
    return least


def number(given: Any, name: str, expected: str) -> float:
    """``given`` as a finite number; ActivityFailed naming ``name`` and
    what is ``expected``."""
    value = given
    if isinstance(value, bool):
        value = None
    elif isinstance(value, str):  # a ${...} substitution gives text
        try:
            value = float(value)
        except ValueError:
            value = None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ActivityFailed(f"{name} is {given!r:.80}: expected {expected}")
    return float(value)


def parse_tags(given: Any) -> Dict[str, str]:
    """The ``tags`` argument, values as text as Jaeger compares them."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise ActivityFailed(f"tags is {given!r:.80}: expected a mapping of "
                             'tag names to values, such as {"http.method": '
                             '"GET"}')
    return {str(key): tag_text(value) for key, value in given.items()}


def resolve_query_url(given: Any, configuration: Any) -> str:
    """Where the query goes: ``given`` (the ``query_url`` argument), else
    the setting ``tracing_query_url`` (configuration, environment,
    default)."""
    from chaostracing._run import config

    url: str
    if given not in (None, ""):
        try:
            url = config.resolve("tracing_query_url",
                                 {"tracing_query_url": given}, {})
        except config.ConfigError as error:
            raise ActivityFailed(str(error).replace(
                "tracing_query_url", "query_url", 1)) from None
        return url
    try:
        url = config.resolve("tracing_query_url", configuration)
    except config.ConfigError as error:
        raise ActivityFailed(str(error)) from None
    return url
