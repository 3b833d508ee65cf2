"""The impact the control computes at the end of a run (``tracing_impact:
true``), and the ``blast_radius`` probe's work.

At the end of a run (:func:`after_run`): wait at most
``tracing_impact_wait`` seconds for late spans, saying so; fetch the
windows' spans from ``tracing_query_url``; log one summary line; store the
JSON as ``impact`` in the journal's ``chaostracing`` entry of
``extensions``. Nothing here may fail or hang the run: the wait and the
fetch are bounded, and a back-end that cannot be reached, or scipy
missing, costs one warning.
"""
import logging
import time
from typing import Any, Dict, List, Optional, Sequence

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.gcpause import paused_gc
from chaostracing._data.tags import (
    CHAOSTRACING_BLAST_RADIUS,
    CHAOSTRACING_LIKELY_ORIGIN,
    CHAOSTRACING_OUTSIDE_ALLOWED,
)
from chaostracing._impact import analysis, source, text, verdicts, windows
from chaostracing._run import context, lifecycle, safety

__all__ = ["FETCH_TIMEOUT", "after_run", "blast_radius", "compute"]
logger = logging.getLogger("chaostoolkit")

#: seconds the end-of-run fetch may take, at most
FETCH_TIMEOUT = 30.0


def compute(url: str, times: windows.RunTimes, baseline_s: float, *,
            recovery_s: float = 0, wait_s: float = 0,
            timeout: float = FETCH_TIMEOUT,
            thresholds: verdicts.Thresholds = verdicts.DEFAULT_THRESHOLDS,
            limit: int = source.DEFAULT_LIMIT,
            exclude: Sequence[str] = ()) -> analysis.Impact:
    """The impact of a run of ``times``, from the query service at ``url``:
    the late spans waited for (at most ``wait_s``), the windows' spans
    fetched (within ``timeout``), the verdicts.

    :raises ActivityFailed: the query service could not be read
    :raises ImpactUnavailable: scipy is not installed
    """
    verdicts.preload()
    spans_windows = windows.make(times, baseline_s, recovery_s)
    waited = source.wait_for_late_spans(
        url, spans_windows.end_us, wait_s, exclude=exclude)
    started = time.monotonic()
    with paused_gc():
        fetched = source.from_query(url, spans_windows.start_us,
                                    spans_windows.end_us, timeout=timeout,
                                    limit=limit, exclude=exclude)
        fetched_at = time.monotonic()
        if fetched.limited:
            logger.warning(
                "impact: the query service answered %d traces (the limit) "
                "for %s: the figures are over the newest of them only",
                limit, ", ".join(fetched.limited))
        impact = analysis.analyze(fetched.spans, spans_windows, thresholds)
    impact.timing.update(wait=waited, fetch=fetched_at - started,
                         analysis=time.monotonic() - fetched_at)
    return impact


def after_run(journal: Dict[str, Any], plan: lifecycle.ImpactPlan,
              times: Optional[windows.RunTimes]) -> None:
    """The end-of-run impact, into the journal (see the module
    documentation); never raises."""
    with safety.capture_internal_exceptions("tracing_impact"):
        _after_run(journal, plan, times)


def _after_run(journal: Dict[str, Any], plan: lifecycle.ImpactPlan,
               times: Optional[windows.RunTimes]) -> None:
    if "impact" in _entry(journal, make=False):
        return  # the control is declared twice: computed once
    if times is None:
        try:
            times = windows.from_journal(journal)
        except ValueError as error:
            safety.warn_once("impact", "impact: not computed: %s", error)
            return
    safety.log_info(
        "impact: waiting up to %gs for the services' late spans "
        "(tracing_impact_wait), then reading %s", plan.wait,
        _shown(plan.query_url))
    exclude = [plan.own_service] if plan.own_service else []
    try:
        impact = compute(plan.query_url, times, plan.baseline,
                         wait_s=plan.wait, exclude=exclude)
    except ActivityFailed as error:
        safety.warn_once("impact", "impact: not computed: %s", error)
        return
    except verdicts.ImpactUnavailable as error:
        safety.warn_once("impact", "impact: not computed: %s", error)
        return
    safety.log_info("%s", text.summary_line(impact))
    _entry(journal)["impact"] = impact.as_json()


def _entry(journal: Dict[str, Any], make: bool = True) -> Dict[str, Any]:
    """The journal's ``chaostracing`` entry of ``extensions``, made when the
    run was not traced (unless not ``make``: then ``{}``)."""
    extensions = journal.get("extensions")
    for entry in extensions if isinstance(extensions, list) else ():
        if isinstance(entry, dict) and entry.get("name") == "chaostracing":
            return entry
    if not make:
        return {}
    if not isinstance(extensions, list):
        extensions = journal["extensions"] = []
    entry = {"name": "chaostracing"}
    extensions.append(entry)
    return entry


def _shown(url: str) -> str:
    from chaostracing._probes import fetch

    return fetch.shown(url)


def blast_radius(allowed: List[str], url: str, baseline_s: float, *,
                 wait_s: float, timeout: float,
                 thresholds: verdicts.Thresholds, limit: int) -> bool:
    """The ``blast_radius`` probe (:func:`chaostracing.probes.blast_radius`)
    once its arguments are checked: the method's window comes from the
    control's clock (:func:`chaostracing._run.lifecycle.method_clock`)."""
    method = lifecycle.method_clock()
    if method is None:
        raise ActivityFailed(
            "blast_radius needs the chaostracing control in the experiment "
            '("controls": [{"name": "chaostracing", "provider": {"type": '
            '"python", "module": "chaostracing.control"}}]): it compares the '
            "method's window with the baseline before it, and only the "
            "control knows when the method ran")
    start = method.get("start")
    if start is None:
        logger.info("blast_radius: the method has not run yet, nothing to "
                    "compare: true")
        return True
    end = method.get("end") or time.time()
    start_us, end_us = int(start * 1e6), int(end * 1e6)
    times = windows.RunTimes(start_us, end_us, end_us)
    try:
        impact = compute(url, times, baseline_s, wait_s=wait_s,
                         timeout=timeout, thresholds=thresholds, limit=limit)
    except verdicts.ImpactUnavailable as error:
        raise ActivityFailed(str(error)) from None
    radius = impact.blast_radius
    outside = [s for s in radius if s not in allowed]
    logger.info(
        "blast_radius: impacted: %s; likely origin: %s; outside allowed: %s",
        ", ".join(radius) or "none", ", ".join(impact.likely_origin) or
        "none", ", ".join(outside) or "none")
    span = context.current_span()
    if span is not None:
        span.set_tag(CHAOSTRACING_BLAST_RADIUS, ", ".join(radius))
        span.set_tag(CHAOSTRACING_LIKELY_ORIGIN,
                     ", ".join(impact.likely_origin))
        span.set_tag(CHAOSTRACING_OUTSIDE_ALLOWED, ", ".join(outside))
    return not outside
