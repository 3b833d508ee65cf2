"""The probes' arguments, checked: a bad one fails the activity with a
sentence naming it and what is expected (chaoslib shows it in the journal).

Numbers may come as text: a ``${...}`` substitution gives a string.
"""
import math
from typing import Any, Dict

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.spanquery import tag_text

__all__ = ["KINDS", "min_spans", "number", "query_url", "tags"]

#: what ``kind`` accepts (or None for any)
KINDS = ("server", "client", "producer", "consumer", "internal")


def min_spans(given: Any) -> float:
    least = number(given, "min_spans", "a number of spans, 0 or more")
    if least < 0:
        raise ActivityFailed(f"min_spans is {given!r}: expected a number "
                             "of spans, 0 or more")
    return least


def number(given: Any, name: str, expected: str) -> float:
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


def tags(given: Any) -> Dict[str, str]:
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise ActivityFailed(f"tags is {given!r:.80}: expected a mapping of "
                             'tag names to values, such as {"http.method": '
                             '"GET"}')
    return {str(key): tag_text(value) for key, value in given.items()}


def query_url(given: Any, configuration: Any) -> str:
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
