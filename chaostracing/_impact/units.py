"""The units an impact compares, and their figures in each window.

Built from every span given (the back-end's, not only the run's trace:
background load and real users count):

- a **service**, through its entry spans (``span.kind`` ``server`` or
  ``consumer``: one per request or message it handled);
- an **operation**: a service's entry spans of one operation name;
- an **edge** from a caller service to a callee service: every call
  :func:`chaostracing._data.edges.call_pairs` finds (the one definition of
  an edge, which ``/api/dependencies`` shares). A call failed when the
  callee's span failed, or the caller's span when it is the client side of
  the call; its duration is the caller's client span's (the wait the
  caller saw, the network included), else the callee's.

A span belongs to the window its start falls in, except one of the
baseline still under way when the method starts, which is in none
(:class:`~chaostracing._impact.windows.WindowFinder` says why); a call's
times are those of the span whose duration it takes. "Failed" is
:func:`chaostracing._data.model.failed`, the one definition. Percentiles
are nearest-rank, as the probes compute them.
"""
import math
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from chaostracing._data.edges import call_pairs
from chaostracing._data.model import SpanData, failed
from chaostracing._data.tags import (
    CLIENT,
    CONSUMER,
    PRODUCER,
    SERVER,
    SPAN_KIND,
)
from chaostracing._impact.windows import Windows

__all__ = ["Sample", "Unit", "collect", "nearest_rank"]

SERVICE, OPERATION, EDGE = "service", "operation", "edge"
#: the kinds of spans that are a service's entry: a request it served, a
#: message it consumed
ENTRY_KINDS = frozenset((SERVER, CONSUMER))
_CALLER_SIDE = frozenset((CLIENT, PRODUCER))


class Unit(NamedTuple):
    """What is compared: ``(service, name, "")``, ``(operation, service,
    operation name)`` or ``(edge, caller, callee)``."""

    kind: str
    first: str
    second: str = ""

    @property
    def services(self) -> List[str]:
        """The services the unit is about (an edge: caller, callee)."""
        return [self.first, self.second] if self.kind == EDGE \
            else [self.first]

    def described(self) -> str:
        if self.kind == SERVICE:
            return f"service {self.first}"
        if self.kind == OPERATION:
            return f"operation {self.first} {self.second}"
        return f"edge {self.first} \u2192 {self.second}"

    def as_json(self) -> Dict[str, Any]:
        if self.kind == EDGE:
            return {"kind": EDGE, "caller": self.first, "callee": self.second}
        out: Dict[str, Any] = {"kind": self.kind, "service": self.first}
        if self.kind == OPERATION:
            out["operation"] = self.second
        return out


class Sample:
    """One unit in one window: the durations (µs) of its calls, and how
    many failed."""

    __slots__ = ("durations", "errors", "_sorted")

    def __init__(self) -> None:
        self.durations: List[int] = []
        self.errors = 0
        self._sorted: Optional[List[int]] = None

    def add(self, duration_us: int, is_failed: bool) -> None:
        self.durations.append(duration_us)
        if is_failed:
            self.errors += 1
        self._sorted = None

    @property
    def calls(self) -> int:
        return len(self.durations)

    @property
    def error_ratio(self) -> float:
        return self.errors / len(self.durations) if self.durations else 0.0

    def percentile_ms(self, rank: float) -> Optional[float]:
        """The ``rank``-th percentile of the durations in ms, nearest rank;
        None without calls."""
        if not self.durations:
            return None
        if self._sorted is None:
            self._sorted = sorted(self.durations)
        return nearest_rank(self._sorted, rank) / 1000

    def figures(self) -> Dict[str, Any]:
        """The window's figures, as the JSON gives them."""
        return {
            "calls": self.calls,
            "errors": self.errors,
            "error_ratio": round(self.error_ratio, 6),
            "p50_ms": _ms(self.percentile_ms(50)),
            "p95_ms": _ms(self.percentile_ms(95)),
            "p99_ms": _ms(self.percentile_ms(99)),
        }


def nearest_rank(ordered: List[int], rank: float) -> int:
    """The ``rank``-th percentile of ``ordered`` (sorted, not empty) by
    nearest rank: the definition of
    :func:`chaostracing.probes.span_latency_percentile`."""
    index = max(math.ceil(rank / 100 * len(ordered)) - 1, 0)
    return ordered[index]


def _ms(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)


Samples = Dict[Unit, Dict[str, Sample]]


def collect(spans: Iterable[SpanData], windows: Windows) -> Samples:
    """Every unit seen in ``spans`` with its sample in each window (a unit
    not called in a window has an empty sample there)."""
    names = [w.name for w in windows.all]
    find = windows.finder()
    spans = list(spans)
    # one pass, keyed by plain tuples; a service's sample is the sum of its
    # operations'
    operations: Dict[Tuple[str, str], Dict[str, Sample]] = {}
    for span in spans:
        kind = span.tags.get(SPAN_KIND)
        if not isinstance(kind, str) or kind.lower() not in ENTRY_KINDS:
            continue
        window = find(span.start_us, span.end_us)
        if window is None:
            continue
        key = (span.process.service_name, span.operation_name)
        per_window = operations.get(key)
        if per_window is None:
            per_window = operations[key] = {n: Sample() for n in names}
        sample = per_window[window]
        sample.durations.append(span.duration_us)
        if failed(span.tags):
            sample.errors += 1
    calls: Dict[Tuple[str, str], Dict[str, Sample]] = {}
    for caller, callee in call_pairs(spans):
        client = caller.kind in _CALLER_SIDE
        timed = caller if client else callee
        window = find(timed.start_us, timed.end_us)
        if window is None:
            continue
        key = (caller.process.service_name, callee.process.service_name)
        per_window = calls.get(key)
        if per_window is None:
            per_window = calls[key] = {n: Sample() for n in names}
        sample = per_window[window]
        sample.durations.append(timed.duration_us)
        if failed(callee.tags) or (client and failed(caller.tags)):
            sample.errors += 1
    samples: Samples = {}
    for (service, operation), per_window in operations.items():
        samples[Unit(OPERATION, service, operation)] = per_window
        total = samples.setdefault(Unit(SERVICE, service),
                                   {n: Sample() for n in names})
        for name, sample in per_window.items():
            total[name].durations.extend(sample.durations)
            total[name].errors += sample.errors
    for (calling, called), per_window in calls.items():
        samples[Unit(EDGE, calling, called)] = per_window
    return samples
