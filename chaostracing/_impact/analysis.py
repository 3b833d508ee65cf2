"""The impact of a run: every unit's verdict, the blast radius, the likely
origin, the recovery, and the JSON they are written as.

- **Blast radius**: the services whose own units (the service, or one of
  its operations) are impacted, and the callee of every impacted edge. An
  impacted edge does not add its caller: a caller whose fallback hid the
  fault from its own clients stays out.
- **Likely origin**: a service of the blast radius none of whose callees
  (the edges seen in the baseline or during the method) is in it.
- **Recovered**: per impacted unit, whether the window after the run (the
  recovery window when there is one, else after) no longer shows what
  impacted it (its errors, its latency) against the baseline, by the same
  tests (None without enough data there; false when its calls are gone);
  for the run, true when every impacted unit recovered, false when one did
  not, null when that is unknown or nothing was impacted.

The JSON (:meth:`Impact.as_json`) is the documented schema of
``docs/impact.md``: keys are only ever added to it.
"""
import datetime
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Set, Tuple

from chaostracing._data.model import SpanData
from chaostracing._impact.units import (
    EDGE,
    OPERATION,
    SERVICE,
    Sample,
    Unit,
    collect,
)
from chaostracing._impact.verdicts import (
    DEFAULT_THRESHOLDS,
    GONE,
    IMPACTED,
    UNCHANGED,
    VERDICTS,
    Comparison,
    Thresholds,
    compare,
)
from chaostracing._impact.windows import Window, Windows

__all__ = ["Impact", "UnitResult", "analyze", "SCHEMA_VERSION"]

#: bumped only if a key's meaning ever changes (keys are only added)
SCHEMA_VERSION = 1
_KIND_ORDER = {SERVICE: 0, OPERATION: 1, EDGE: 2}


class UnitResult(NamedTuple):
    """One unit's verdict, recovery and samples."""

    unit: Unit
    #: the method's window against the baseline
    during: Comparison
    #: for an impacted unit: the after (or recovery) window against the
    #: baseline; None otherwise
    later: Optional[Comparison]
    samples: Dict[str, Sample]

    @property
    def verdict(self) -> str:
        return self.during.verdict

    @property
    def recovered(self) -> Optional[bool]:
        """For an impacted unit: whether the window judged for recovery no
        longer shows what impacted it (its errors, its latency); None with
        too few calls there to say."""
        if self.verdict != IMPACTED or self.later is None:
            return None
        if self.later.verdict == GONE:
            return False
        if self.later.verdict not in (IMPACTED, UNCHANGED):
            return None  # not enough data after
        return not set(self.during.reasons) & set(self.later.reasons)

    def as_json(self, windows: Windows) -> Dict[str, Any]:
        out = self.unit.as_json()
        out["verdict"] = self.verdict
        out["reasons"] = list(self.during.reasons)
        out["recovered"] = self.recovered
        out["p_errors"] = _p(self.during.p_errors)
        out["p_latency"] = _p(self.during.p_latency)
        for window in windows.all:
            out[window.name] = self.samples[window.name].figures()
        return out


class Impact:
    """The impact of one run (see the module documentation)."""

    def __init__(self, windows: Windows, thresholds: Thresholds,
                 results: List[UnitResult], spans: int) -> None:
        self.windows = windows
        self.thresholds = thresholds
        self.results = sorted(results, key=_order)
        self.spans = spans
        #: seconds spent: "wait", "fetch", "analysis" (set by the caller)
        self.timing: Dict[str, float] = {}
        self.blast_radius = _blast_radius(self.results)
        self.likely_origin = _likely_origin(self.results, self.blast_radius)

    @property
    def impacted(self) -> List[UnitResult]:
        return [r for r in self.results if r.verdict == IMPACTED]

    @property
    def recovered(self) -> Optional[bool]:
        answers = [r.recovered for r in self.impacted]
        if not answers:
            return None
        if any(a is False for a in answers):
            return False
        if any(a is None for a in answers):
            return None
        return True

    def counts(self) -> Dict[str, int]:
        """How many units got each verdict."""
        return {v: sum(1 for r in self.results if r.verdict == v)
                for v in VERDICTS}

    def as_json(self) -> Dict[str, Any]:
        """The documented schema (docs/impact.md)."""
        return {
            "version": SCHEMA_VERSION,
            "blast_radius": list(self.blast_radius),
            "likely_origin": list(self.likely_origin),
            "recovered": self.recovered,
            "counts": self.counts(),
            "windows": {w.name: _window(w) for w in self.windows.all},
            "thresholds": dict(self.thresholds._asdict()),
            "spans": self.spans,
            "units": [r.as_json(self.windows) for r in self.results],
            "timing": {k: round(v, 3) for k, v in self.timing.items()},
        }


def analyze(spans: Iterable[SpanData], windows: Windows,
            thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Impact:
    """The impact of the run whose ``windows`` are given, from ``spans``
    (every span the back-end holds in them; others are ignored).

    :raises ImpactUnavailable: when scipy is not installed (and a test is
        needed).
    """
    spans = list(spans)
    starts = [s.start_us for s in spans
              if windows.start_us <= s.start_us < windows.end_us]
    if starts:
        windows = windows.clipped(min(starts))
    samples = collect(spans, windows)
    base_s = windows.baseline.seconds
    during_s = windows.during.seconds
    judged = windows.judged_for_recovery
    results = []
    for unit, per_window in samples.items():
        baseline = per_window["baseline"]
        during = compare(baseline, per_window["during"], base_s, during_s,
                         thresholds)
        later = None
        if during.verdict == IMPACTED:
            later = compare(baseline, per_window[judged.name], base_s,
                            judged.seconds, thresholds)
        results.append(UnitResult(unit, during, later, per_window))
    return Impact(windows, thresholds, results, len(starts))


def _order(result: UnitResult) -> Tuple[int, int, str, str]:
    unit = result.unit
    return (VERDICTS.index(result.verdict), _KIND_ORDER[unit.kind],
            unit.first, unit.second)


def _blast_radius(results: List[UnitResult]) -> List[str]:
    found: Set[str] = set()
    for result in results:
        if result.verdict != IMPACTED:
            continue
        unit = result.unit
        # an edge adds its callee only: the caller may have hidden it
        found.add(unit.second if unit.kind == EDGE else unit.first)
    return sorted(found)


def _likely_origin(results: List[UnitResult],
                   radius: List[str]) -> List[str]:
    inside = set(radius)
    callees: Dict[str, Set[str]] = {}
    for result in results:
        unit = result.unit
        if unit.kind == EDGE and (result.samples["baseline"].calls
                                  or result.samples["during"].calls):
            callees.setdefault(unit.first, set()).add(unit.second)
    return [service for service in radius
            if not (callees.get(service, set()) - {service}) & inside]


def _window(window: Window) -> Dict[str, Any]:
    return {"start": _iso(window.start_us), "end": _iso(window.end_us),
            "seconds": round(window.seconds, 3)}


def _iso(time_us: int) -> str:
    moment = datetime.datetime.fromtimestamp(time_us / 1e6,
                                             datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds")


def _p(value: Optional[float]) -> Optional[float]:
    return None if value is None else float(f"{value:.3g}")
