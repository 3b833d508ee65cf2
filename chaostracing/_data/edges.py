"""The calls between services, read from spans: one definition of an edge.

An edge from a caller service to a callee service exists wherever a span of
one service has a child span of another: a span whose ``CHILD_OF`` parent
(:attr:`~chaostracing._data.model.SpanData.parent_id`) is a span of the same
trace reported by a different service. Each such child is one call. This is
how Jaeger builds its dependency graph (``/api/dependencies``: ``parent``,
``child``, ``callCount``), and the blast radius of a run compares these
edges over time windows, so both read them from here.

What is not an edge: a parent missing from the spans given (nothing says
who called), ``FOLLOWS_FROM`` references and links (not calls), a parent of
the same service (a call inside the service).

Spans of many traces may be given at once, in any order; a span given twice
(the same trace and span id) counts once.
"""
from typing import Dict, Iterable, Iterator, List, NamedTuple, Tuple

from chaostracing._data.model import SpanData

__all__ = ["Edge", "call_pairs", "edges"]


class Edge(NamedTuple):
    """Calls from ``caller`` to ``callee`` (service names)."""

    caller: str
    callee: str
    calls: int


def call_pairs(spans: Iterable[SpanData]) -> Iterator[Tuple[SpanData,
                                                             SpanData]]:
    """``(caller span, callee span)`` for every call between two services
    in ``spans``: the callee span is the child, so its errors and duration
    are the call's as the callee saw it, the caller span's as the caller
    did."""
    by_id: Dict[Tuple[int, int], SpanData] = {}
    for span in spans:
        by_id.setdefault((span.trace_id, span.span_id), span)
    for span in by_id.values():
        if not span.parent_id or span.parent_id == span.span_id:
            continue
        parent = by_id.get((span.trace_id, span.parent_id))
        if parent is not None and \
                parent.process.service_name != span.process.service_name:
            yield parent, span


def edges(spans: Iterable[SpanData]) -> List[Edge]:
    """Every edge between services in ``spans`` with its number of calls,
    by caller then callee."""
    counts: Dict[Tuple[str, str], int] = {}
    for caller, callee in call_pairs(spans):
        key = (caller.process.service_name, callee.process.service_name)
        counts[key] = counts.get(key, 0) + 1
    return [Edge(caller, callee, calls)
            for (caller, callee), calls in sorted(counts.items())]
