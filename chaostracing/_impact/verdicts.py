"""Verdicts: is a unit's window different from its baseline, beyond chance
and by enough to matter?

Two one-sided tests from :mod:`scipy.stats`, each joined to a minimum
change, because with thousands of calls a test finds a 1 % change
"significant" and nobody should care:

- **errors**: Fisher's exact test (``alternative="greater"``) on the 2x2
  table of failed and other calls, window against baseline: p below
  ``alpha`` and the error ratio up by at least ``error_rise`` (0.05: five
  percentage points);
- **latency**: the Mann-Whitney U test (``alternative="greater"``) on the
  durations: p below ``alpha``, and the p95 up by at least
  ``latency_rise`` (20 %) *and* ``latency_ms`` (5 ms).

Either makes the unit **impacted**. Before any test, the calls are
counted:

- a unit with no call in the baseline and at least ``min_spans`` in the
  window is **new** (a fallback path), one with at least ``min_spans`` in
  the baseline and none in the window is **gone** (an open circuit), when
  the window and the baseline are long enough for that absence to mean
  something (at the other window's rate of calls, seeing none has a chance
  below ``alpha``);
- otherwise fewer than ``min_spans`` in the baseline or in the window is
  **not enough data**, which is never reported as healthy;
- the rest is **unchanged**.

scipy is imported when a verdict is first needed (``pip install
'chaostoolkit-opentracing[impact]'``); :func:`preload` starts that import
on a thread while the spans are fetched.
"""
import math
import threading
from typing import Any, List, NamedTuple, Optional

from chaostracing._impact.units import Sample

__all__ = [
    "IMPACTED",
    "NEW",
    "GONE",
    "NOT_ENOUGH_DATA",
    "UNCHANGED",
    "VERDICTS",
    "Comparison",
    "DEFAULT_THRESHOLDS",
    "ImpactUnavailable",
    "Thresholds",
    "compare",
    "preload",
    "stats",
]

IMPACTED, NEW, GONE = "impacted", "new", "gone"
NOT_ENOUGH_DATA, UNCHANGED = "not-enough-data", "unchanged"
#: every verdict, in the order reports list them
VERDICTS = (IMPACTED, NEW, GONE, NOT_ENOUGH_DATA, UNCHANGED)
#: what to install when scipy is missing
EXTRA_HINT = "pip install 'chaostoolkit-opentracing[impact]'"


class ImpactUnavailable(RuntimeError):
    """scipy is not installed: one sentence naming the extra."""


class Thresholds(NamedTuple):
    """Every threshold of the verdicts (see the module documentation)."""

    #: fewer spans than this in the baseline or the window: not enough data
    min_spans: int = 20
    #: the significance level of both tests
    alpha: float = 0.01
    #: the least rise of the error ratio (0.05: five percentage points)
    error_rise: float = 0.05
    #: the least rise of the p95, relative (0.2: 20 %)
    latency_rise: float = 0.20
    #: and absolute, in milliseconds
    latency_ms: float = 5.0


#: the thresholds the issue set, and the documentation explains
DEFAULT_THRESHOLDS = Thresholds()


class Comparison(NamedTuple):
    """A window against the baseline."""

    verdict: str
    #: why impacted: "errors", "latency" (empty otherwise)
    reasons: List[str]
    #: the tests' p-values (None when not tested)
    p_errors: Optional[float] = None
    p_latency: Optional[float] = None


_loaded: Optional[Any] = None
_loading: Optional[threading.Thread] = None
_lock = threading.Lock()


def preload() -> None:
    """Start importing scipy.stats on a thread (it takes most of a second):
    the fetch of the spans waits on the network meanwhile."""
    global _loading
    with _lock:
        if _loaded is not None or _loading is not None:
            return
        _loading = threading.Thread(target=_import_quietly,
                                    name="chaostracing-scipy", daemon=True)
        _loading.start()


def _import_quietly() -> None:
    try:
        stats()
    except ImpactUnavailable:
        pass  # said when a verdict is asked for


def stats() -> Any:
    """:mod:`scipy.stats`; :class:`ImpactUnavailable` naming the extra
    when scipy is not installed."""
    global _loaded
    loading = _loading
    if loading is not None and loading is not threading.current_thread():
        loading.join()
    if _loaded is None:
        try:
            import scipy.stats
        except ImportError as error:
            raise ImpactUnavailable(
                f"the impact needs scipy ({error}): {EXTRA_HINT}") from None
        _loaded = scipy.stats
    return _loaded


def compare(baseline: Sample, window: Sample, baseline_s: float,
            window_s: float, thresholds: Thresholds) -> Comparison:
    """The verdict of ``window`` (``window_s`` seconds long) against
    ``baseline`` (``baseline_s`` seconds)."""
    least = thresholds.min_spans
    before, now = baseline.calls, window.calls
    if before == 0 and now >= least and _absence_means(
            now, window_s, baseline_s, thresholds.alpha):
        return Comparison(NEW, [])
    if now == 0 and before >= least and _absence_means(
            before, baseline_s, window_s, thresholds.alpha):
        return Comparison(GONE, [])
    if before < least or now < least:
        return Comparison(NOT_ENOUGH_DATA, [])
    scipy_stats = stats()
    reasons = []
    p_errors = p_latency = None
    if window.errors and window.error_ratio > baseline.error_ratio:
        table = [[window.errors, now - window.errors],
                 [baseline.errors, before - baseline.errors]]
        p_errors = _p(scipy_stats.fisher_exact(table,
                                               alternative="greater"))
        rise = window.error_ratio - baseline.error_ratio
        if p_errors < thresholds.alpha and \
                rise >= thresholds.error_rise - 1e-12:
            reasons.append("errors")
    p95_before = baseline.percentile_ms(95) or 0.0
    p95_now = window.percentile_ms(95) or 0.0
    if p95_now > p95_before:
        p_latency = _p(scipy_stats.mannwhitneyu(
            window.durations, baseline.durations, alternative="greater"))
        if p_latency < thresholds.alpha \
                and p95_now >= p95_before * (1 + thresholds.latency_rise) \
                and p95_now - p95_before >= thresholds.latency_ms:
            reasons.append("latency")
    return Comparison(IMPACTED if reasons else UNCHANGED, reasons,
                      p_errors, p_latency)


def _p(result: Any) -> float:
    """The p-value of a scipy result (a NaN, from identical samples, is
    no evidence: 1)."""
    value = float(getattr(result, "pvalue", result[1]))
    return 1.0 if math.isnan(value) else value


def _absence_means(seen: int, seen_s: float, empty_s: float,
                   alpha: float) -> bool:
    """Whether seeing no call in ``empty_s`` seconds, at the rate of
    ``seen`` calls in ``seen_s``, had a chance below ``alpha`` (Poisson)."""
    if seen_s <= 0 or empty_s <= 0:
        return False
    expected = seen * empty_s / seen_s
    return math.exp(-expected) < alpha
