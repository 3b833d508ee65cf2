"""What ``chaostracing show`` and ``report`` read: several files, one set of
traces.

Each file may be a Jaeger JSON trace file (the ``file`` provider's output,
what ``collect`` wrote, a Jaeger UI download), an OTLP/JSON file (top level
``resourceSpans``), or a Chaos Toolkit journal: a run made without the
control (yesterday's CI artifact) is rebuilt into spans from the journal's
start and end times and statuses, marked as rebuilt. Spans of all files are
joined by trace id, so the services' spans (received by ``collect``) hang
under the run's client spans; a span found in two files is kept once.
"""
import datetime
import hashlib
import json
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from chaostracing._data.jaegerjson import read_document, read_json_file
from chaostracing._data.model import Process, SpanData
from chaostracing._data.tags import (
    CHAOSTOOLKIT_ACTIVITIES,
    CHAOSTOOLKIT_ACTIVITIES_FAILED,
    CHAOSTOOLKIT_ACTIVITY_BACKGROUND,
    CHAOSTOOLKIT_ACTIVITY_TYPE,
    CHAOSTOOLKIT_DEVIATED,
    CHAOSTOOLKIT_HYPOTHESIS_PHASE,
    CHAOSTOOLKIT_OUTPUT,
    CHAOSTOOLKIT_STATUS,
    CHAOSTOOLKIT_STEADY_STATE_MET,
    CHAOSTOOLKIT_TOLERANCE_MET,
    CHAOSTOOLKIT_TYPE,
    CHAOSTRACING_REBUILT,
    ERROR,
    EVENT,
    EVENT_ERROR,
    MESSAGE,
    STACK,
)

__all__ = ["REBUILT_WARNING", "load", "load_one", "rebuild_journal"]

REBUILT_WARNING = "rebuilt from a Chaos Toolkit journal, not traced"


def load(paths: Iterable[str]) -> List[SpanData]:
    """The spans of every file in ``paths``, joined, each span once.

    :raises ValueError: naming the file and what is wrong with it.
    """
    seen = set()
    spans = []
    for path in paths:
        for span in load_one(path):
            key = (span.trace_id, span.span_id)
            if key not in seen:
                seen.add(key)
                spans.append(span)
    return spans


def load_one(path: str) -> List[SpanData]:
    raw, document = read_json_file(path)
    try:
        if isinstance(document, dict) and "resourceSpans" in document:
            return _otlp_json(raw)
        if isinstance(document, dict) and _is_journal(document):
            return rebuild_journal(document)
        return read_document(document)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _otlp_json(raw: bytes) -> List[SpanData]:
    from chaostracing._data.otlp import decode, decoder_problem, to_span_data

    problem = decoder_problem()
    if problem is not None:
        raise ValueError(f"an OTLP/JSON file: {problem}")
    return to_span_data(decode(raw, "application/json"))


def _is_journal(document: Mapping[str, Any]) -> bool:
    return "chaoslib-version" in document or (
        isinstance(document.get("experiment"), dict) and "run" in document)


###############################################################################
# A journal, rebuilt into spans
###############################################################################
def rebuild_journal(journal: Mapping[str, Any]) -> List[SpanData]:
    """The spans a traced run of this journal would have had (times, names,
    statuses, outputs, errors), without ids of a real trace: they are derived
    from the journal, so rebuilding twice gives the same trace."""
    experiment = journal.get("experiment") or {}
    if not isinstance(experiment, dict):
        raise ValueError("the journal's experiment is not an object")
    title = str(experiment.get("title") or "experiment")
    seed = f"{title}|{journal.get('start')}|{journal.get('end')}"
    digest = hashlib.sha256(seed.encode()).digest()
    trace_id = int.from_bytes(digest[:16], "big")
    process = Process("chaostoolkit", [(CHAOSTRACING_REBUILT, True)])
    builder = _Builder(trace_id, process)
    start, end = _time(journal.get("start")), _time(journal.get("end"))
    status = journal.get("status")
    root = builder.span(title, None, start, end, {
        CHAOSTOOLKIT_TYPE: "experiment",
        CHAOSTOOLKIT_STATUS: status,
        CHAOSTOOLKIT_DEVIATED: bool(journal.get("deviated")),
        CHAOSTRACING_REBUILT: True,
        ERROR: status in ("failed", "aborted", "interrupted") or None,
    }, warnings=[REBUILT_WARNING])
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    hypothesis_title = str(hypothesis.get("title") or "hypothesis")
    states = journal.get("steady_states") or {}
    for phase in ("before", "during", "after"):
        runs = states.get(phase)
        for state in (runs if isinstance(runs, list) else [runs]):
            if isinstance(state, dict):
                builder.hypothesis(hypothesis_title, phase, state, root)
    for name, key, level in (("Method", "run", "method"),
                             ("Rollbacks", "rollbacks", "rollback")):
        runs = [r for r in journal.get(key) or () if isinstance(r, dict)]
        if runs or key == "run":
            builder.phase(name, level, runs, root)
    return builder.spans


class _Builder:
    def __init__(self, trace_id: int, process: Process) -> None:
        self.trace_id = trace_id
        self.process = process
        self.spans: List[SpanData] = []

    def span(self, name: str, parent: Optional[SpanData], start: int, end: int,
             tags: Dict[str, Any],
             logs: Optional[List[Tuple[int, Dict[str, Any]]]] = None,
             warnings: Optional[List[str]] = None) -> SpanData:
        number = len(self.spans) + 1
        span_id = int.from_bytes(hashlib.sha256(
            f"{self.trace_id}|{number}".encode()).digest()[:8], "big") or 1
        span = SpanData(
            trace_id=self.trace_id, span_id=span_id,
            parent_id=parent.span_id if parent else 0, flags=1,
            operation_name=name, start_us=start,
            duration_us=max(0, end - start),
            tags={k: v for k, v in tags.items() if v is not None},
            logs=logs or [], process=self.process, warnings=warnings)
        self.spans.append(span)
        return span

    def hypothesis(self, title: str, phase: str, state: Mapping[str, Any],
                   parent: SpanData) -> None:
        probes = [p for p in state.get("probes") or () if isinstance(p, dict)]
        start, end = _bounds(probes, parent)
        met = state.get("steady_state_met")
        span = self.span(title, parent, start, end, {
            CHAOSTOOLKIT_TYPE: "hypothesis",
            CHAOSTOOLKIT_HYPOTHESIS_PHASE: phase,
            CHAOSTOOLKIT_STEADY_STATE_MET: None if met is None else bool(met),
            ERROR: (met is False) or None,
        })
        for probe in probes:
            self.activity(probe, span)

    def phase(self, name: str, level: str, runs: List[Mapping[str, Any]],
              parent: SpanData) -> None:
        start, end = _bounds(runs, parent)
        failed = sum(1 for r in runs if r.get("status") == "failed")
        span = self.span(name, parent, start, end, {
            CHAOSTOOLKIT_TYPE: level,
            CHAOSTOOLKIT_ACTIVITIES: len(runs),
            CHAOSTOOLKIT_ACTIVITIES_FAILED: failed,
        })
        for run in runs:
            self.activity(run, span)

    def activity(self, run: Mapping[str, Any], parent: SpanData) -> None:
        activity = run.get("activity")
        if not isinstance(activity, dict):
            activity = {}
        start, end = _time(run.get("start")), _time(run.get("end"))
        status = run.get("status")
        logs: List[Tuple[int, Dict[str, Any]]] = []
        if status == "failed":
            text = run.get("exception")
            text = ("".join(map(str, text)) if isinstance(text, list)
                    else str(text))
            last = text.strip().splitlines()[-1] if text.strip() else "failed"
            logs.append(
                (end, {EVENT: EVENT_ERROR, MESSAGE: last, STACK: text}))
        tolerance = run.get("tolerance_met")
        self.span(str(activity.get("name") or "activity"), parent, start, end, {
            CHAOSTOOLKIT_TYPE: "activity",
            CHAOSTOOLKIT_ACTIVITY_TYPE: activity.get("type"),
            CHAOSTOOLKIT_ACTIVITY_BACKGROUND: bool(activity.get("background"))
            or None,
            CHAOSTOOLKIT_STATUS: status,
            CHAOSTOOLKIT_TOLERANCE_MET: None if tolerance is None
            else bool(tolerance),
            CHAOSTOOLKIT_OUTPUT: _output(run),
            ERROR: (status == "failed" or tolerance is False) or None,
        }, logs)


def _output(run: Mapping[str, Any]) -> Any:
    if "output" not in run:
        return None
    output = run["output"]
    if isinstance(output, (bool, int, float, str)):
        return output
    text = json.dumps(output, default=repr)
    return text[:1024]


def _bounds(runs: Sequence[Mapping[str, Any]],
            parent: SpanData) -> Tuple[int, int]:
    starts = [_time(r.get("start")) for r in runs if r.get("start")]
    ends = [_time(r.get("end")) for r in runs if r.get("end")]
    if not starts or not ends:
        return parent.start_us, parent.start_us
    return min(starts), max(ends)


def _time(value: Any) -> int:
    """A journal timestamp (ISO 8601, UTC when naive) in microseconds."""
    if not isinstance(value, str):
        return 0
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1_000_000)
