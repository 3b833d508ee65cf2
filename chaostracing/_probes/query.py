"""The Jaeger query a probe asks, made of its checked arguments.

The same search is written twice, once for each side: as the parameters of
Jaeger's ``/api/traces`` (which answers whole traces holding a matching
span), and as a :class:`~chaostracing._data.spanquery.SpanQuery` that picks
the matching spans out of those traces.
"""
import json
import time
from typing import Dict, NamedTuple, Optional

from chaostracing._data.spanquery import SpanQuery
from chaostracing._probes.arguments import Search

__all__ = ["Query", "build"]


class Query(NamedTuple):
    """One search, for the query service and for the spans it answers."""

    #: the parameters of ``/api/traces`` (times in µs since the epoch)
    params: Dict[str, str]
    #: which of the answered spans match
    spans: SpanQuery


def build(search: Search, now_us: Optional[int] = None) -> Query:
    """The query for ``search``, its window ending now (or at ``now_us``)."""
    end = time.time_ns() // 1000 if now_us is None else now_us
    start = end - int(search.seconds * 1_000_000)
    wanted = search.wanted
    params = {"service": search.service, "start": str(start),
              "end": str(end), "limit": str(search.limit)}
    if search.operation:
        params["operation"] = search.operation
    if wanted:
        params["tags"] = json.dumps(wanted)
    return Query(params, SpanQuery(search.service, search.operation, wanted,
                                   start, end))
