"""Jaeger's JSON trace model: what Jaeger UI's "JSON File" upload accepts and
what Jaeger's query API answers.

::

    {"data": [{"traceID": "…", "spans": [...], "processes": {"p1": {...}},
               "warnings": null}]}

Each span has ``traceID``, ``spanID`` (hex), ``operationName``,
``references`` (``CHILD_OF`` / ``FOLLOWS_FROM``), ``startTime`` and
``duration`` in microseconds, typed ``tags``, ``logs`` and a ``processID``.
Trace ids are written as Jaeger writes them (16 digits when the high half
is zero, else 32: :func:`~chaostracing._data.model.jaeger_trace_hex`);
either length is read.

Files are written atomically (a temporary file in the same folder, then a
rename), so a reader sees the previous file or the complete new one. Reading
is defensive: a file from anywhere gives
:class:`~chaostracing._data.model.SpanData` or one ``ValueError`` that says
what is wrong, never another exception; and one bad span (a ``startTime``
of -1, a duration that is not a number, an id that is not hex) costs only
itself: it is left out and counted in a :class:`Skipped`, whose one line
the reader's caller shows.
"""
import base64
import binascii
import functools
import json
import math
import os
import stat
from json.encoder import encode_basestring_ascii as _q
from typing import (
    AbstractSet,
    Any,
    Dict,
    Iterable,
    List,
    Optional,
    Tuple,
    Union,
)

from chaostracing._data.model import (
    CHILD_OF,
    FOLLOWS_FROM,
    REF_TYPES,
    Process,
    SpanData,
    jaeger_trace_hex,
    parse_id,
    span_hex,
)
from chaostracing._data.text import safe_str

__all__ = [
    "FILE_MODE",
    "Skipped",
    "dumps",
    "group_by_trace",
    "load_spans",
    "read_document",
    "read_json_file",
    "to_document",
    "to_trace",
    "trace_json",
    "write_atomic",
]

#: trace files are created as chaostoolkit creates the journal next to
#: them: 0666 less the process's umask (the README's security section)
FILE_MODE = 0o666
_MAX_US = 1 << 62  # any real time in microseconds is far below


###############################################################################
# Writing
###############################################################################
def to_trace(trace_id: int, spans: Iterable[SpanData]) -> Dict[str, Any]:
    """One trace of Jaeger's model, its spans in the order they started, its
    processes numbered ``p1``, ``p2``... in that order."""
    pids: Dict[Process, str] = {}
    processes: Dict[str, Any] = {}
    out = []
    for span in sorted(spans, key=_start):
        pid = pids.get(span.process)
        if pid is None:
            pid = pids[span.process] = f"p{len(pids) + 1}"
            processes[pid] = {
                "serviceName": span.process.service_name,
                "tags": _tags(span.process.tags),
            }
        out.append(_span(span, pid))
    return {
        "traceID": jaeger_trace_hex(trace_id),
        "spans": out,
        "processes": processes,
        "warnings": None,
    }


def trace_json(trace_id: int, spans: Iterable[SpanData]) -> str:
    """``json.dumps(to_trace(trace_id, spans))``, ASCII, faster
    (``benchmarks/micro_cost.py`` compares them).

    The query API answers thousands of traces per search: this writes their
    JSON text directly (strings escaped by the json module's C escaper)
    instead of building a dict per span, tag and log first.
    """
    pids: Dict[Process, str] = {}
    processes = []
    trace = jaeger_trace_hex(trace_id)
    out = []
    for span in sorted(spans, key=_start):
        pid = pids.get(span.process)
        if pid is None:
            pid = pids[span.process] = f"p{len(pids) + 1}"
            service = _q(safe_str(span.process.service_name))
            processes.append(
                f'"{pid}":{{"serviceName":{service}'
                f',"tags":[{_tags_json(span.process.tags)}]}}')
        references = []
        if span.parent_id:
            references.append('{"refType":"CHILD_OF","traceID":"%s","spanID":'
                              '"%s"}' % (trace, span_hex(span.parent_id)))
        for kind, ref_trace, ref_span in span.references:
            references.append(
                '{"refType":"%s","traceID":"%s","spanID":"%s"}' % (
                    REF_TYPES.get(kind, "CHILD_OF"),
                    jaeger_trace_hex(ref_trace), span_hex(ref_span)))
        logs = ",".join(
            '{"timestamp":%d,"fields":[%s]}' % (ts, _tags_json(fields))
            for ts, fields in span.logs)
        out.append(
            '{"traceID":"%s","spanID":"%s","flags":%d,"operationName":%s,'
            '"references":[%s],"startTime":%d,"duration":%d,"tags":[%s],'
            '"logs":[%s],"processID":"%s","warnings":%s}' % (
                trace, span_hex(span.span_id), span.flags,
                _q(safe_str(span.operation_name)), ",".join(references),
                span.start_us, span.duration_us, _tags_json(span.tags), logs,
                pid, "null" if span.warnings is None
                else json.dumps(span.warnings)))
    return '{"traceID":"%s","spans":[%s],"processes":{%s},"warnings":null}' % (
        trace, ",".join(out), ",".join(processes))


def _start(span: SpanData) -> int:
    return span.start_us


def _tags_json(tags: Any) -> str:
    out = []
    for key, value in tags.items() if isinstance(tags, dict) else tags:
        key = _q(safe_str(key))
        if value is True or value is False:
            out.append('{"key":%s,"type":"bool","value":%s}'
                       % (key, "true" if value else "false"))
        elif isinstance(value, int):
            out.append('{"key":%s,"type":"int64","value":%d}' % (key, value))
        elif isinstance(value, float) and math.isfinite(value):
            out.append('{"key":%s,"type":"float64","value":%r}'
                       % (key, value))
        elif isinstance(value, (bytes, bytearray)):
            out.append('{"key":%s,"type":"binary","value":"%s"}' % (
                key, base64.b64encode(value).decode("ascii")))
        else:
            out.append('{"key":%s,"type":"string","value":%s}'
                       % (key, _q(safe_str(value))))
    return ",".join(out)


def to_document(spans: Iterable[SpanData]) -> Dict[str, Any]:
    """The JSON document of ``spans``, one entry of ``data`` per trace."""
    return {"data": [
        to_trace(tid, members) for tid, members in group_by_trace(spans).items()
    ]}


def dumps(spans: Iterable[SpanData]) -> str:
    return json.dumps(to_document(spans), ensure_ascii=False,
                      separators=(",", ":"))


def write_atomic(path: str, text: Union[str, Iterable[str]],
                 mode: int = FILE_MODE) -> int:
    """Write ``text`` (a string, or its pieces) to ``path``: the old file
    or the new, never half.

    A new file gets ``mode`` less the umask, as ``open()`` gives the
    journal; a file that exists keeps its own mode (a 0600 file stays
    0600 when it is written again).

    :return: the new file's inode number (to tell, later, whether the file
        at ``path`` is still the one written here)
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    try:
        kept: Optional[int] = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        kept = None
    while True:
        temp = os.path.join(
            folder, f".chaostracing-{os.getpid()}-{_random_suffix()}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600 if kept is not None else mode)
            break
        except FileExistsError:
            continue
    try:
        if kept is not None:
            os.chmod(temp, kept)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            if isinstance(text, str):
                out.write(text)
            else:
                out.writelines(text)
            out.flush()
            os.fsync(out.fileno())
            inode = os.fstat(out.fileno()).st_ino
        os.replace(temp, path)
        return inode
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def _random_suffix() -> str:
    return os.urandom(6).hex()


def _span(span: SpanData, pid: str) -> Dict[str, Any]:
    references = []
    if span.parent_id:
        references.append({
            "refType": "CHILD_OF",
            "traceID": jaeger_trace_hex(span.trace_id),
            "spanID": span_hex(span.parent_id),
        })
    for kind, trace, span_id in span.references:
        references.append({
            "refType": REF_TYPES.get(kind, "CHILD_OF"),
            "traceID": jaeger_trace_hex(trace),
            "spanID": span_hex(span_id),
        })
    return {
        "traceID": jaeger_trace_hex(span.trace_id),
        "spanID": span_hex(span.span_id),
        "flags": span.flags,
        "operationName": span.operation_name,
        "references": references,
        "startTime": span.start_us,
        "duration": span.duration_us,
        "tags": _tags(span.tags),
        "logs": [
            {"timestamp": ts, "fields": _tags(fields)}
            for ts, fields in span.logs
        ],
        "processID": pid,
        "warnings": span.warnings,
    }


def _tags(tags: Any) -> List[Dict[str, Any]]:
    out = []
    for key, value in tags.items() if isinstance(tags, dict) else tags:
        if value is True or value is False:
            kind = "bool"
        elif isinstance(value, int):
            kind = "int64"
        elif isinstance(value, float):
            kind = "float64"
            if not math.isfinite(value):  # JSON has no NaN or Infinity
                kind, value = "string", safe_str(value)
        elif isinstance(value, (bytes, bytearray)):
            kind, value = "binary", base64.b64encode(value).decode("ascii")
        else:
            kind, value = "string", safe_str(value)
        out.append({"key": key, "type": kind, "value": value})
    return out


###############################################################################
# Reading
###############################################################################
class Skipped:
    """What a reader left out, each bad span (or trace entry) costing only
    itself: how many, and where the first one was and why."""

    def __init__(self) -> None:
        self.count = 0
        self.first: Optional[str] = None

    def add(self, where: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = where

    def __bool__(self) -> bool:
        return self.count > 0

    def __str__(self) -> str:
        """``2 bad span(s) left out (the first: trace #1, span #3: ...)``"""
        return (f"{self.count} bad span(s) left out"
                + (f" (the first: {self.first})" if self.first else ""))


def load_spans(path: str, skipped: Optional[Skipped] = None
               ) -> List[SpanData]:
    """The spans of a Jaeger JSON file (bad ones left out, counted in
    ``skipped``).

    :raises ValueError: when the file is not in that format, naming what
        is wrong; :class:`OSError` when it cannot be read.
    """
    _, document = read_json_file(path)
    try:
        return read_document(document, skipped=skipped)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def read_json_file(path: str) -> Tuple[bytes, Any]:
    """``(bytes, decoded JSON)`` of a file.

    :raises ValueError: ``<path> is not JSON: ...``; :class:`OSError`
    """
    with open(path, "rb") as src:
        raw = src.read()
    try:
        return raw, json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ValueError(f"{path} is not JSON: {error}") from None


def read_document(document: Any, service: Optional[str] = None,
                  skipped: Optional[Skipped] = None,
                  tag_keys: Optional[AbstractSet[str]] = None
                  ) -> List[SpanData]:
    """The spans of a decoded Jaeger JSON document (``{"data": [...]}``, or
    a single trace ``{"traceID": ..., "spans": [...]}``); only those of
    ``service``, when given (the others are not read).

    ``tag_keys``, when given, is every tag the reader needs: the spans keep
    only those tags, and no logs and no process tags (a reader of 100,000
    spans that needs five tags reads them in half the time).

    A span that is not Jaeger's model, or a trace entry without a list of
    spans, is left out and counted in ``skipped``: one bad span costs only
    itself.

    :raises ValueError: when the document is not Jaeger's model at all, or
        when it has spans and every one of them is bad.
    """
    if isinstance(document, dict) and isinstance(document.get("spans"), list):
        traces = [document]
    elif isinstance(document, dict) and isinstance(document.get("data"), list):
        traces = document["data"]
    else:
        raise ValueError('not a Jaeger trace file (no "data" list of traces)')
    bad = Skipped() if skipped is None else skipped
    before = bad.count
    spans: List[SpanData] = []
    for number, trace in enumerate(traces, 1):
        if not isinstance(trace, dict) or not isinstance(
            trace.get("spans"), list
        ):
            bad.add(f'trace #{number} has no "spans" list')
            continue
        processes = _processes(trace.get("processes"), tag_keys is None)
        for index, raw in enumerate(trace["spans"], 1):
            if service is not None and isinstance(raw, dict):
                process = processes.get(str(raw.get("processID")))
                if process is None or process.service_name != service:
                    continue
            try:
                spans.append(_read_span(raw, processes, tag_keys))
            except (KeyError, TypeError, ValueError, OverflowError,
                    AttributeError, RecursionError) as error:
                bad.add(f"trace #{number}, span #{index}: {_reason(error)}")
    if not spans and bad.count > before:
        # nothing readable at all: a file of another kind, say why
        raise ValueError(bad.first or "no readable span")
    return spans


def _reason(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"missing field {error.args[0]!r}"
    return str(error) or type(error).__name__


def _processes(raw: Any, with_tags: bool = True) -> Dict[str, Process]:
    out: Dict[str, Process] = {}
    if not isinstance(raw, dict):
        return out
    for pid, process in raw.items():
        if not isinstance(process, dict):
            continue
        name = process.get("serviceName")
        out[str(pid)] = Process(
            name if isinstance(name, str) else str(name or "unknown"),
            tuple(_read_tags(process.get("tags")).items()) if with_tags
            else (),
        )
    return out


# ids repeat in a document (a trace's id on each of its spans, a span's id in
# its children's references): parse each text once
_cached_id = functools.lru_cache(maxsize=1 << 14)(parse_id)


def _parse_id(text: Any, bits: int) -> int:
    if isinstance(text, str):
        return _cached_id(text, bits)
    return parse_id(text, bits)


def _read_span(raw: Any, processes: Dict[str, Process],
               tag_keys: Optional[AbstractSet[str]] = None) -> SpanData:
    if not isinstance(raw, dict):
        raise ValueError("a span is not an object")
    trace_id = _parse_id(raw["traceID"], 128)
    parent = 0
    references = []
    refs = raw.get("references") or []
    if not isinstance(refs, list):
        raise ValueError('"references" is not a list')
    for ref in refs:
        if not isinstance(ref, dict):
            raise ValueError("a reference is not an object")
        follows = ref.get("refType") == "FOLLOWS_FROM"
        kind = FOLLOWS_FROM if follows else CHILD_OF
        try:
            ref_trace = _parse_id(ref.get("traceID", raw["traceID"]), 128)
            ref_span = _parse_id(ref["spanID"], 64)
        except (KeyError, ValueError):
            continue  # a reference to nothing costs only itself
        if kind == CHILD_OF and not parent and ref_trace == trace_id:
            parent = ref_span
        else:
            references.append((kind, ref_trace, ref_span))
    if not parent and isinstance(raw.get("parentSpanID"), str) \
            and raw["parentSpanID"].strip("0"):
        parent = parse_id(raw["parentSpanID"], 64)
    name = raw.get("operationName", "")
    logs = raw.get("logs") or []
    if not isinstance(logs, list):
        raise ValueError('"logs" is not a list')
    return SpanData(
        trace_id=trace_id,
        span_id=_parse_id(raw["spanID"], 64),
        parent_id=parent,
        flags=_flags(raw.get("flags", 1)),
        operation_name=name if isinstance(name, str) else str(name),
        start_us=_int(raw["startTime"], "startTime", 0, _MAX_US),
        duration_us=_int(raw.get("duration", 0), "duration", 0, _MAX_US),
        references=references,
        tags=_read_tags(raw.get("tags"), tag_keys),
        logs=[
            (_int(log.get("timestamp", 0), "a log's timestamp", 0, _MAX_US),
             _read_tags(log.get("fields")))
            for log in logs if isinstance(log, dict)
        ] if tag_keys is None else [],
        process=processes.get(str(raw.get("processID")))
        or Process(str(raw.get("processID") or "unknown")),
        warnings=_warnings(raw.get("warnings")),
    )


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} is not a number: {str(value)[:40]!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number: {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"{what} is out of range: {number}")
    return number


def _flags(value: Any) -> int:
    """A span's flags as the sender wrote them (any 32- or 64-bit integer
    a client may send); 1, sampled, when they are not a number."""
    if isinstance(value, int) and not isinstance(value, bool) \
            and -(1 << 63) <= value < (1 << 64):
        return value
    return 1


def _warnings(raw: Any) -> Any:
    if isinstance(raw, list):
        return [str(w) for w in raw[:16]]
    return None


def _read_tags(raw: Any, keys: Optional[AbstractSet[str]] = None
               ) -> Dict[str, Any]:
    """Tags by key (``keys``: only those)."""
    if not isinstance(raw, list):
        return {}
    out: Dict[str, Any] = {}
    for tag in raw:
        if not isinstance(tag, dict) or "key" not in tag:
            continue
        key = tag["key"] if isinstance(tag["key"], str) else str(tag["key"])
        if keys is None or key in keys:
            out[key] = _read_value(tag.get("type", "string"),
                                   tag.get("value"))
    return out


def _read_value(kind: Any, value: Any) -> Any:
    if kind == "binary" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error):
            return value
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -(1 << 63) <= value < (1 << 63) else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if value is None:
        return ""
    return json.dumps(value)[:65536]


def group_by_trace(spans: Iterable[SpanData]) -> Dict[int, List[SpanData]]:
    """Spans by trace id, in the order they came."""
    traces: Dict[int, List[SpanData]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    return traces

