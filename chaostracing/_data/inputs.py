"""What ``chaostracing show`` and ``report`` read: several files, one set of
traces.

Each file may be a Jaeger JSON trace file (the ``file`` provider's output,
what ``collect`` wrote, a Jaeger UI download), an OTLP/JSON file (top level
``resourceSpans``), or a Chaos Toolkit journal. A traced run's journal
records its trace (the ``chaostracing`` entry of its ``extensions``: the
trace id, and the ``file`` provider's trace file): its trace is that one,
read from the files given or from that trace file, never a second copy. A
run made without the control (yesterday's CI artifact) is rebuilt into
spans from the journal's start and end times and statuses, marked as
rebuilt. Spans of all files are joined by trace id, so the services' spans
(received by ``collect``) hang under the run's client spans; a span found
in two files is kept once. A bad span (in a Jaeger or an OTLP/JSON file)
costs only itself: it is left out, counted per file, and the caller says
so once.
"""
import datetime
import hashlib
import json
import os
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from chaostracing._data.jaegerjson import (
    Skipped,
    read_document,
    read_json_file,
)
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

__all__ = ["FORMATS", "REBUILT_WARNING", "journal_time", "load", "load_one",
           "rebuild_journal"]

REBUILT_WARNING = "rebuilt from a Chaos Toolkit journal, not traced"
#: what a file may be, for the message about one that is none of them
FORMATS = ("a Jaeger JSON trace file (the file provider's, collect's, a "
           "Jaeger UI download), an OTLP/JSON file, or a Chaos Toolkit "
           "journal")


def load(paths: Iterable[str],
         on_skipped: Optional[Callable[[str, Skipped], None]] = None,
         ) -> List[SpanData]:
    """The spans of every file in ``paths``, joined, each span once; a
    traced run's journal adds its trace (:func:`_journal_trace`).

    :param on_skipped: called with a file's path and what was left out of
        it, for each file where bad spans were left out
    :raises ValueError: naming the file and what is wrong with it.
    """
    spans = _Joined(on_skipped)
    journals = []
    for path in paths:
        try:
            raw, document = read_json_file(path)
        except ValueError as error:  # not JSON (an OSError stays one)
            raise ValueError(f"{error}; expected {FORMATS}") from None
        if isinstance(document, dict) and _is_journal(document):
            journals.append((path, document))  # once the others are read
        else:
            spans.add(spans.read(path, raw, document))
    for path, journal in journals:
        spans.add(_journal_trace(path, journal, spans))
    return spans.spans


def load_one(path: str) -> List[SpanData]:
    """The spans of one file (a journal's trace included)."""
    return load([path])


def _spans(path: str, raw: bytes, document: Any,
           skipped: Optional[Skipped] = None) -> List[SpanData]:
    try:
        if isinstance(document, dict) and "resourceSpans" in document:
            return _otlp_json(raw, document, skipped)
        if isinstance(document, dict) and _is_journal(document):
            return rebuild_journal(document)
        return read_document(document, skipped=skipped)
    except ValueError as error:
        raise ValueError(f"{path}: {error}; expected {FORMATS}") from None


class _Joined:
    """Spans of several files, each once; what each file's bad spans were,
    told to ``on_skipped``."""

    def __init__(self, on_skipped: Optional[Callable[[str, Skipped], None]]
                 = None) -> None:
        self.spans: List[SpanData] = []
        self._seen: set = set()  # type: ignore[type-arg]
        self.on_skipped = on_skipped

    def read(self, path: str, raw: bytes, document: Any) -> List[SpanData]:
        """The spans of one file, its bad ones told to ``on_skipped``."""
        skipped = Skipped()
        spans = _spans(path, raw, document, skipped)
        if skipped and self.on_skipped is not None:
            self.on_skipped(path, skipped)
        return spans

    def add(self, spans: Iterable[SpanData]) -> None:
        for span in spans:
            key = (span.trace_id, span.span_id)
            if key not in self._seen:
                self._seen.add(key)
                self.spans.append(span)

    def has_run(self, trace_id: int) -> bool:
        """Whether the run's own spans of that trace are here (not only the
        spans services sent to ``collect`` under it)."""
        return any(s.trace_id == trace_id and CHAOSTOOLKIT_TYPE in s.tags
                   for s in self.spans)


def _journal_trace(path: str, journal: Mapping[str, Any],
                   found: _Joined) -> List[SpanData]:
    """The spans a journal adds: none when its run's trace is in the files
    given; its trace file's, which it names (or found next to it, should the
    folder have moved); rebuilt from the journal when the run was not
    traced, or its trace never delivered.

    :raises ValueError: a traced run whose spans are elsewhere: saying
        where, and what to give.
    """
    entry = _traced(journal)
    if entry is None:
        return rebuild_journal(journal)
    trace_id = int(entry["trace_id"], 16)
    if found.has_run(trace_id):
        return []
    trace_file = entry.get("trace_file") or _file_of(entry.get("destination"))
    if trace_file:
        beside = os.path.join(os.path.dirname(os.path.abspath(path)),
                              os.path.basename(trace_file))
        for candidate in dict.fromkeys((trace_file, beside)):
            if os.path.isfile(candidate):
                raw, document = read_json_file(candidate)
                spans = found.read(candidate, raw, document)
                if any(s.trace_id == trace_id for s in spans):
                    return spans
    if entry.get("delivered") is False:
        spans = rebuild_journal(journal, trace_id, (
            f"rebuilt from a Chaos Toolkit journal: its trace was not "
            f"delivered ({entry.get('problem') or 'see the run'})"))
        return spans
    where = entry.get("destination") or "its back-end"
    if trace_file:
        hint = (f"its trace file {trace_file} is not there: give it too "
                "(chaostracing show JOURNAL TRACE_FILE)")
    else:
        url = entry.get("trace_url")
        hint = (f"see it there{f' ({url})' if url else ''}, or give the file "
                "of its spans too (what chaostracing collect wrote)")
    raise ValueError(f"{path}: a traced run (trace {entry['trace_id']}) whose "
                     f"spans went to the {where}: {hint}")


def _traced(journal: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    """The journal's ``chaostracing`` entry, when its run was traced."""
    extensions = journal.get("extensions")
    for entry in extensions if isinstance(extensions, list) else ():
        if isinstance(entry, dict) and entry.get("name") == "chaostracing":
            trace_id = entry.get("trace_id")
            if isinstance(trace_id, str) and trace_id and all(
                    c in "0123456789abcdef" for c in trace_id.lower()) \
                    and len(trace_id) <= 32:
                return entry
    return None


def _file_of(destination: Any) -> Optional[str]:
    """The trace file a 1.0.0 journal names in its ``destination``."""
    prefix = "trace file "
    if isinstance(destination, str) and destination.startswith(prefix):
        return destination[len(prefix):]
    return None


def _otlp_json(raw: bytes, document: Dict[str, Any],
               skipped: Optional[Skipped]) -> List[SpanData]:
    from chaostracing._data.otlp import (
        BadRequest,
        decode,
        decoder_problem,
        to_span_data,
    )

    problem = decoder_problem()
    if problem is not None:
        raise ValueError(f"an OTLP/JSON file: {problem}")
    try:
        return to_span_data(decode(raw, "application/json"))
    except BadRequest as error:
        whole = str(error)
    # one bad span fails the whole document's decoding: decode the spans
    # one by one, leaving out (and counting) those that fail
    bad = Skipped() if skipped is None else skipped
    spans: List[SpanData] = []
    for where, single in _otlp_singles(document):
        try:
            body = json.dumps(single).encode("utf-8")
            spans.extend(to_span_data(decode(body, "application/json")))
        except (BadRequest, ValueError, TypeError) as error:
            bad.add(f"{where}: {error}")
    if not spans:
        raise ValueError(whole)
    return spans


def _otlp_singles(document: Dict[str, Any]
                  ) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """Each span of an OTLP/JSON document as a document of its own, with
    its resource and scope, and where it was."""
    resources = document.get("resourceSpans")
    for r, resource in enumerate(resources if isinstance(resources, list)
                                 else [], 1):
        if not isinstance(resource, dict):
            yield f"resourceSpans #{r}", {"resourceSpans": [resource]}
            continue
        scopes = resource.get("scopeSpans")
        for s, scope in enumerate(scopes if isinstance(scopes, list)
                                  else [], 1):
            if not isinstance(scope, dict) or not isinstance(
                    scope.get("spans"), list):
                yield (f"resourceSpans #{r}, scopeSpans #{s}",
                       {"resourceSpans": [dict(resource, scopeSpans=[scope])]})
                continue
            for n, span in enumerate(scope["spans"], 1):
                yield (f"resourceSpans #{r}, scopeSpans #{s}, span #{n}",
                       {"resourceSpans": [dict(resource, scopeSpans=[
                           dict(scope, spans=[span])])]})


def _is_journal(document: Mapping[str, Any]) -> bool:
    return "chaoslib-version" in document or (
        isinstance(document.get("experiment"), dict) and "run" in document)


###############################################################################
# A journal, rebuilt into spans
###############################################################################
def rebuild_journal(journal: Mapping[str, Any],
                    trace_id: Optional[int] = None,
                    warning: str = REBUILT_WARNING) -> List[SpanData]:
    """The spans a traced run of this journal would have had (times, names,
    statuses, outputs, errors). Their ids are derived from the journal, so
    rebuilding twice gives the same trace; the trace id is the run's own
    when it had one (``trace_id``).

    :param warning: what the root span says of them
    """
    experiment = journal.get("experiment") or {}
    if not isinstance(experiment, dict):
        raise ValueError("the journal's experiment is not an object")
    title = str(experiment.get("title") or "experiment")
    if trace_id is None:
        seed = f"{title}|{journal.get('start')}|{journal.get('end')}"
        digest = hashlib.sha256(seed.encode()).digest()
        trace_id = int.from_bytes(digest[:16], "big")
    process = Process("chaostoolkit", [(CHAOSTRACING_REBUILT, True)])
    builder = _Builder(trace_id, process)
    start = journal_time(journal.get("start"))
    end = journal_time(journal.get("end"))
    status = journal.get("status")
    root = builder.span(title, None, start, end, {
        CHAOSTOOLKIT_TYPE: "experiment",
        CHAOSTOOLKIT_STATUS: status,
        CHAOSTOOLKIT_DEVIATED: bool(journal.get("deviated")),
        CHAOSTRACING_REBUILT: True,
        ERROR: status in ("failed", "aborted", "interrupted") or None,
    }, warnings=[warning])
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
        start = journal_time(run.get("start"))
        end = journal_time(run.get("end"))
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
    starts = [journal_time(r.get("start")) for r in runs if r.get("start")]
    ends = [journal_time(r.get("end")) for r in runs if r.get("end")]
    if not starts or not ends:
        return parent.start_us, parent.start_us
    return min(starts), max(ends)


def journal_time(value: Any) -> int:
    """A journal timestamp (ISO 8601, UTC when naive) in microseconds, 0
    when there is none."""
    if not isinstance(value, str):
        return 0
    try:
        moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp() * 1_000_000)
