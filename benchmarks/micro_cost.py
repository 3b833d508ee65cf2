"""Costs of code written for speed, each against the alternative it was
chosen over, in the same run (medians of the rounds, and their ratio):

- encoding a span for the Jaeger agent: our compact-protocol encoder
  (``chaostracing/_jaeger/thrift.py``) against the thrift library's pure
  Python ``TCompactProtocol`` writing jaeger-client's generated types (the
  objects are built beforehand, which only favours the thrift library);
- the safety net around every traced request and decorated call: the
  ``capture_internal_exceptions`` class (``_run/safety.py``) against the
  same logic as a ``contextlib.contextmanager`` generator;
- the query API's JSON for a trace: ``trace_json`` writing the text directly
  (``chaostracing/_data/jaegerjson.py``) against
  ``json.dumps(to_trace(...))``, which builds the dicts first.

    python benchmarks/micro_cost.py [--spans 2000] [--rounds 15]
"""
import argparse
import contextlib
import json
import time

from _common import median, paired, report, where_installed

from chaostracing._data.jaegerjson import to_trace, trace_json
from chaostracing._data.model import SpanData
from chaostracing._jaeger.thrift import encode_span
from chaostracing._run import safety

TAGS = {"chaostoolkit.type": "activity", "chaostoolkit.status": "succeeded",
        "http.status_code": 200, "error": False, "span.kind": "client",
        "http.url": "http://127.0.0.1:8080/orders?page=2"}


def spans(n: int):
    return [SpanData(trace_id=(7 << 64) | i + 1, span_id=i + 1, parent_id=1,
                     operation_name=f"activity-{i}",
                     start_us=1_700_000_000_000_000 + i, duration_us=1234,
                     tags=dict(TAGS),
                     logs=[(1_700_000_000_000_100 + i, {"event": "done"})])
            for i in range(n)]


def thrift_spans(records):
    from jaeger_client.thrift_gen.jaeger import ttypes

    def tag(key, value):
        if isinstance(value, bool):
            return ttypes.Tag(key=key, vType=ttypes.TagType.BOOL, vBool=value)
        if isinstance(value, int):
            return ttypes.Tag(key=key, vType=ttypes.TagType.LONG, vLong=value)
        return ttypes.Tag(key=key, vType=ttypes.TagType.STRING, vStr=value)

    def signed(n):
        return n - (1 << 64) if n >= 1 << 63 else n

    return [ttypes.Span(
        traceIdLow=signed(r.trace_id & ((1 << 64) - 1)),
        traceIdHigh=signed(r.trace_id >> 64), spanId=signed(r.span_id),
        parentSpanId=signed(r.parent_id), operationName=r.operation_name,
        flags=r.flags, startTime=r.start_us, duration=r.duration_us,
        tags=[tag(k, v) for k, v in r.tags.items()],
        logs=[ttypes.Log(timestamp=ts, fields=[tag(k, v)
                                               for k, v in f.items()])
              for ts, f in r.logs]) for r in records]


def ours(records) -> float:
    start = time.perf_counter()
    for record in records:
        encode_span(record)
    return (time.perf_counter() - start) / len(records) * 1e6


def theirs(objects) -> float:
    from thrift.protocol import TCompactProtocol
    from thrift.transport import TTransport

    start = time.perf_counter()
    for span in objects:
        buffer = TTransport.TMemoryBuffer()
        span.write(TCompactProtocol.TCompactProtocol(buffer))
        buffer.getvalue()
    return (time.perf_counter() - start) / len(objects) * 1e6


@contextlib.contextmanager
def generator_guard(kind, on_error=None):
    """capture_internal_exceptions written as a contextlib generator."""
    try:
        yield
    except Exception as error:
        safety.report_internal_error(kind, error)
        if on_error is not None:
            on_error()
        if safety.is_strict():
            raise


def guarded_block(guard, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        with guard("a traced request"):
            pass
    return (time.perf_counter() - start) / n * 1e6


def json_block(write, trace_id, records, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        write(trace_id, records)
    return (time.perf_counter() - start) / n * 1e3


def via_dicts(trace_id, records):
    return json.dumps(to_trace(trace_id, records))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"chaostracing from {where_installed()}")
    rows = []
    records = spans(args.spans)
    try:
        objects = thrift_spans(records)
    except ImportError:
        print("jaeger-client or thrift not installed: encoding skipped")
        objects = None
    if objects is not None:
        times = {"ours": [], "thrift": []}
        for _ in range(args.rounds):
            times["ours"].append(ours(records))
            times["thrift"].append(theirs(objects))
        saved, spread = paired(times["thrift"], times["ours"])
        rows += [
            ("encode a span: ours", median(times["ours"]), "µs"),
            ("encode a span: thrift (pure Python)",
             median(times["thrift"]), "µs"),
            ("thrift / ours", median(times["thrift"]) / median(times["ours"]),
             "x"),
            ("saved per span", saved, spread, "µs")]
    calls = args.spans * 50
    times = {"class": [], "generator": []}
    for _ in range(args.rounds):
        times["class"].append(
            guarded_block(safety.capture_internal_exceptions, calls))
        times["generator"].append(guarded_block(generator_guard, calls))
    rows += [
        ("safety net: class", median(times["class"]), "µs"),
        ("safety net: contextlib generator", median(times["generator"]),
         "µs"),
        ("generator / class",
         median(times["generator"]) / median(times["class"]), "x")]
    trace = spans(200)
    times = {"direct": [], "dicts": []}
    for _ in range(args.rounds):
        times["direct"].append(json_block(trace_json, trace[0].trace_id,
                                          trace, 20))
        times["dicts"].append(json_block(via_dicts, trace[0].trace_id,
                                         trace, 20))
    rows += [
        ("a 200-span trace's JSON: trace_json", median(times["direct"]),
         "ms"),
        ("a 200-span trace's JSON: json.dumps(to_trace())",
         median(times["dicts"]), "ms"),
        ("json.dumps / trace_json",
         median(times["dicts"]) / median(times["direct"]), "x")]
    report(f"{args.rounds} rounds, medians", rows)


if __name__ == "__main__":
    main()
