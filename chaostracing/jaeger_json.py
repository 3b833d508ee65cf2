"""Jaeger's JSON trace format: what Jaeger UI's "JSON File" upload accepts.

::

    {"data": [{"traceID": "…", "spans": [...], "processes": {"p1": {...}},
               "warnings": null}]}

Each span has ``traceID``, ``spanID`` (hex), ``operationName``,
``references`` (``CHILD_OF`` / ``FOLLOWS_FROM``), ``startTime`` and
``duration`` in microseconds, typed ``tags``, ``logs`` and a ``processID``.
Files are written atomically: a temporary file in the same folder, then a
rename, so a reader sees the previous file or the complete new one.
"""
import base64
import json
import math
import os
import tempfile
from typing import Any, Dict, Iterable, List, Sequence, Tuple

from chaostracing.agent import ReceivedSpan
from chaostracing.exporters.records import SpanRecord

__all__ = [
    "dumps_received",
    "dumps_traces",
    "load_spans",
    "to_document",
    "write_atomic",
]

Process = Tuple[str, Sequence[Tuple[str, Any]]]


def to_document(
    groups: Iterable[Tuple[Process, Iterable[SpanRecord]]],
) -> Dict[str, Any]:
    """The JSON document for spans grouped by the process that sent them."""
    traces: Dict[int, Dict[str, Any]] = {}
    process_ids: Dict[Tuple[str, str], str] = {}
    for (service, tags), records in groups:
        tag_list = _tags(tags)
        key = (service, json.dumps(tag_list, sort_keys=True))
        for record in records:
            trace = traces.setdefault(
                record.trace_id,
                {
                    "traceID": _trace_hex(record.trace_id),
                    "spans": [],
                    "processes": {},
                    "warnings": None,
                },
            )
            pid = process_ids.setdefault(key, f"p{len(process_ids) + 1}")
            trace["processes"][pid] = {"serviceName": service, "tags": tag_list}
            trace["spans"].append(_span(record, pid))
    for trace in traces.values():
        trace["spans"].sort(key=lambda s: s["startTime"])
    return {"data": list(traces.values())}


def dumps_traces(groups) -> str:
    return json.dumps(to_document(groups), indent=1, ensure_ascii=False)


def dumps_received(spans: Iterable[ReceivedSpan]) -> str:
    """The JSON document of spans received from agents, by sending process."""
    groups: Dict[Tuple[str, tuple], List[SpanRecord]] = {}
    for span in spans:
        key = (span.service_name, tuple(sorted(span.process_tags.items())))
        groups.setdefault(key, []).append(span.to_record())
    return dumps_traces(
        ((service, list(tags)), records)
        for (service, tags), records in groups.items()
    )


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path``: the old file or the new, never half."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, temp = tempfile.mkstemp(
        prefix=".chaostracing-", suffix=".json.tmp", dir=folder
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def load_spans(path: str) -> List[ReceivedSpan]:
    """The spans of a Jaeger JSON file.

    :raises ValueError: when the file is not in that format.
    """
    with open(path, encoding="utf-8") as src:
        try:
            document = json.load(src)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(
        document.get("data"), list
    ):
        raise ValueError(f'{path} is not a Jaeger trace file (no "data" list)')
    spans = []
    try:
        for trace in document["data"]:
            processes = trace.get("processes") or {}
            for raw in trace["spans"]:
                process = processes.get(raw.get("processID"), {})
                spans.append(_received(raw, process))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: malformed span ({error!r})") from None
    return spans


###############################################################################
# Internals
###############################################################################
def _trace_hex(trace_id: int) -> str:
    return format(trace_id, "032x" if trace_id >> 64 else "016x")


def _span_hex(span_id: int) -> str:
    return format(span_id, "016x")


def _span(record: SpanRecord, pid: str) -> Dict[str, Any]:
    references = [
        {
            "refType": "FOLLOWS_FROM" if kind == 1 else "CHILD_OF",
            "traceID": _trace_hex(trace),
            "spanID": _span_hex(span),
        }
        for kind, trace, span in record.references
    ]
    if record.parent_id and not any(
        r["spanID"] == _span_hex(record.parent_id) for r in references
    ):
        references.insert(
            0,
            {
                "refType": "CHILD_OF",
                "traceID": _trace_hex(record.trace_id),
                "spanID": _span_hex(record.parent_id),
            },
        )
    return {
        "traceID": _trace_hex(record.trace_id),
        "spanID": _span_hex(record.span_id),
        "flags": record.flags,
        "operationName": record.operation_name,
        "references": references,
        "startTime": record.start_us,
        "duration": record.duration_us,
        "tags": _tags(record.tags),
        "logs": [
            {"timestamp": ts, "fields": _tags(fields)}
            for ts, fields in record.logs
        ],
        "processID": pid,
        "warnings": None,
    }


def _tags(tags: Iterable[Tuple[str, Any]]) -> List[Dict[str, Any]]:
    out = []
    for key, value in tags:
        if value is True or value is False:
            kind = "bool"
        elif isinstance(value, int):
            kind = "int64"
        elif isinstance(value, float):
            kind = "float64"
            if not math.isfinite(value):  # JSON has no NaN or Infinity
                kind, value = "string", str(value)
        elif isinstance(value, (bytes, bytearray)):
            kind, value = "binary", base64.b64encode(value).decode("ascii")
        else:
            kind, value = "string", str(value)
        out.append({"key": key, "type": kind, "value": value})
    return out


def _value(tag: Dict[str, Any]) -> Any:
    kind, value = tag.get("type", "string"), tag.get("value")
    if kind == "binary" and isinstance(value, str):
        try:
            return base64.b64decode(value)
        except ValueError:
            return value
    return value


def _received(raw: Dict[str, Any], process: Dict[str, Any]) -> ReceivedSpan:
    trace_id = int(raw["traceID"], 16)
    parent = 0
    references = []
    for ref in raw.get("references") or ():
        kind = "follows_from" if ref.get("refType") == "FOLLOWS_FROM" else "child_of"
        references.append((kind, int(ref["traceID"], 16), int(ref["spanID"], 16)))
        if kind == "child_of" and not parent:
            parent = int(ref["spanID"], 16)
    if not parent and references:
        parent = references[0][2]
    return ReceivedSpan(
        trace_id=trace_id,
        span_id=int(raw["spanID"], 16),
        parent_id=parent,
        operation_name=str(raw.get("operationName", "")),
        start_us=int(raw["startTime"]),
        duration_us=int(raw.get("duration", 0)),
        flags=int(raw.get("flags", 1)),
        service_name=str(process.get("serviceName", "")),
        tags={t["key"]: _value(t) for t in raw.get("tags") or ()},
        logs=[
            (int(log["timestamp"]), {t["key"]: _value(t) for t in log["fields"]})
            for log in raw.get("logs") or ()
        ],
        references=[r for r in references if r[2] != parent or r[0] != "child_of"],
        process_tags={t["key"]: _value(t) for t in process.get("tags") or ()},
    )
