"""The ``chaostracing`` command: see the traces of runs without a server.

::

    chaostracing show chaostracing-trace.json services.json   # the waterfall
    chaostracing report chaostracing-trace.json -o report.html
    chaostracing collect --output services.json   # be a Jaeger agent, an
                                                  # OTLP endpoint and Jaeger's
                                                  # query API
    chaostracing impact journal.json --query-url http://127.0.0.1:16686
                                                  # what did the fault touch?

``show`` and ``report`` take several files (trace files, OTLP/JSON files,
Chaos Toolkit journals) and join their spans by trace id. Errors are one
line on stderr and a non-zero exit status.
"""
import argparse
import os
import signal
import sys
import threading
import time
import typing
from typing import Any, Dict, List, Optional

if typing.TYPE_CHECKING:  # the commands import what they use when they run
    from chaostracing._data.model import SpanData

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        status: int = args.run(args)
        return status
    except (OSError, ValueError) as error:
        from chaostracing._viewers.waterfall import printable

        print(f"chaostracing {args.command}: {printable(error, 2000)}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chaostracing",
        description="See the traces of Chaos Toolkit runs without a Jaeger "
        "server.",
    )
    from chaostracing._version import __version__

    parser.add_argument(
        "--version", action="version", version=f"chaostracing {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    inputs = ("trace files: Jaeger JSON (the file provider's, collect's, a "
              "Jaeger UI download), OTLP/JSON, or a Chaos Toolkit journal "
              "(rebuilt into spans); spans of several files are joined by "
              "trace id")

    show = commands.add_parser(
        "show",
        help="draw traces as a waterfall in the terminal",
        description="Draw traces as a waterfall: the span tree, start offsets "
        "and durations to scale, what happened, failed spans marked ✗ and a "
        "deviated run marked !.",
    )
    show.add_argument("files", nargs="+", metavar="FILE", help=inputs)
    show.add_argument(
        "--trace", metavar="ID", help="only the trace whose id starts with ID"
    )
    show.add_argument(
        "--width",
        type=int,
        help="columns to use (default: the terminal's, 150 when piped)",
    )
    show.set_defaults(run=_show)

    report = commands.add_parser(
        "report",
        help="write traces as one self-contained HTML page",
        description="Write one HTML file that needs nothing else (no network, "
        "no asset): a trace picker, the span tree with waterfall bars, one "
        "colour per service, failures marked, each span's tags, logs and "
        "references on click.",
    )
    report.add_argument("files", nargs="+", metavar="FILE", help=inputs)
    report.add_argument("-o", "--output", default="chaostracing-report.html",
                        metavar="FILE",
                        help="where to write "
                             "(default: chaostracing-report.html)")
    report.add_argument(
        "--trace", metavar="ID", help="only the trace whose id starts with ID"
    )
    report.add_argument("--ui-url", metavar="URL",
                        help="Jaeger UI's address, to link each trace there")
    report.set_defaults(run=_report)

    collect = commands.add_parser(
        "collect",
        help="receive spans (Jaeger UDP, OTLP/HTTP), answer Jaeger's query "
        "API and write them to a file",
        description="Stand in for a Jaeger agent (UDP, Thrift compact as on "
        "6831 or binary as on 6832), an OTLP/HTTP endpoint (POST "
        "/v1/traces, protobuf or JSON, gzip or not) and Jaeger's query "
        "service (its HTTP API as on 16686: /api/services, /api/traces..., "
        "what chaostracing.probes ask; api_v3 and /api/dependencies, what "
        "Jaeger UI asks; /trace/ID shows a trace in a browser, "
        "/ the recent ones), and write what arrives as Jaeger JSON: while "
        "spans arrive, and when it stops (Ctrl-C, SIGTERM or --duration; it "
        "always writes the file first). Malformed input is counted and "
        "skipped; at most --max-spans spans and --max-bytes bytes are kept "
        "(the oldest traces go first, counted). The HTTP ports need the "
        "collector's extra: pip install 'chaostoolkit-opentracing[collect]'.",
    )
    collect.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: "
        "127.0.0.1)"
    )
    collect.add_argument(
        "--port", type=_port_or_off, default=6831,
        help="UDP port for Jaeger agent datagrams, 0 for any free one, off "
        "for none (default: 6831)"
    )
    collect.add_argument(
        "--otlp-port", type=_port_or_off, default=4318,
        help="HTTP port for OTLP, 0 for any free one, off for none "
        "(default: 4318)"
    )
    collect.add_argument(
        "--query-port", type=_port_or_off, default=16686,
        help="HTTP port for Jaeger's query API and the trace pages, 0 for any "
        "free one, off for none (default: 16686)"
    )
    collect.add_argument(
        "--output",
        default="chaostracing-trace.json",
        metavar="FILE",
        help="where to write (default: chaostracing-trace.json)",
    )
    collect.add_argument(
        "--max-spans", type=_positive, default=200_000, metavar="N",
        help="spans kept at most (default: 200000)"
    )
    collect.add_argument(
        "--max-bytes", type=_size, default=512 * 1024 * 1024, metavar="SIZE",
        help="bytes of spans kept at most, estimated (values over 64 KiB are "
        "cut first); a number with K, M or G, or bytes (default: 512M)"
    )
    collect.add_argument(
        "--timeout", type=_timeout, default=30.0, metavar="S",
        help="an HTTP connection idle this long is closed, and so is a "
        "request whose headers or body take longer (default: 30)"
    )
    collect.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME",
        help="answer HTTP requests whose Host header is NAME too (besides "
        "localhost, loopback addresses and --host; * for any): against DNS "
        "rebinding, others get 421 (repeatable)"
    )
    collect.add_argument(
        "--cors", action="append", default=[], metavar="ORIGIN",
        help="let pages of ORIGIN (such as http://localhost:3000; * for any) "
        "read the answers and send OTLP from a browser; without it, no CORS "
        "header is sent (repeatable)"
    )
    collect.add_argument(
        "--duration",
        type=_seconds,
        metavar="S",
        help="stop after S seconds (default: run until interrupted)",
    )
    collect.set_defaults(run=_collect)
    _impact_parser(commands)
    return parser


def _impact_parser(commands: "argparse._SubParsersAction[Any]") -> None:
    impact = commands.add_parser(
        "impact",
        help="what did the fault touch? compare the system's spans during "
        "a run's method with the baseline before it",
        description="Compare every service, operation and call between "
        "services during a run's method with the baseline before it, and "
        "after it, from all the spans a Jaeger query API holds (background "
        "load and real users count) or from trace files. Print the "
        "impacted units first (before -> during -> after), then the blast "
        "radius, the likely origin and whether the system recovered. "
        "Statistics from scipy (pip install "
        "'chaostoolkit-opentracing[impact]'); docs/impact.md explains the "
        "verdicts and the JSON.",
    )
    impact.add_argument("journal", metavar="JOURNAL",
                        help="the run's Chaos Toolkit journal: the windows "
                        "come from its times (or from the run's own trace, "
                        "when the spans hold it)")
    where = impact.add_mutually_exclusive_group()
    where.add_argument("--query-url", metavar="URL",
                       help="a Jaeger query API, Jaeger's or chaostracing "
                       "collect's (default: the setting tracing_query_url: "
                       "$CHAOSTRACING_QUERY_URL, else "
                       "http://127.0.0.1:16686)")
    where.add_argument("--spans", nargs="+", metavar="FILE",
                       help="read the spans from trace files and journals "
                       "instead (Jaeger JSON, OTLP/JSON)")
    impact.add_argument("--baseline", type=_seconds, default=60.0,
                        metavar="S", help="seconds of baseline before the "
                        "method (default: 60, clipped to where data exists)")
    impact.add_argument("--recovery", type=_not_negative, default=0.0,
                        metavar="S", help="also compare the S seconds after "
                        "the run, and judge the recovery there (default: "
                        "none; the window after the method is judged)")
    impact.add_argument("--wait", type=_not_negative, default=0.0,
                        metavar="S", help="wait at most S seconds for the "
                        "services' late spans (default: 0)")
    impact.add_argument("--json", action="store_true",
                        help="print the impact as JSON (docs/impact.md's "
                        "schema) instead of the table")
    impact.add_argument("-o", "--output", metavar="FILE",
                        help="also write the HTML report: the run's trace "
                        "and an Impact section with the service graph")
    impact.add_argument("--all", action="store_true",
                        help="list the unchanged units and those without "
                        "enough data too")
    limits = impact.add_argument_group("thresholds (docs/impact.md)")
    limits.add_argument("--min-spans", type=_positive, default=20,
                        metavar="N", help="fewer spans than N in the "
                        "baseline or a window: not enough data (default: 20)")
    limits.add_argument("--alpha", type=_probability, default=0.01,
                        metavar="P", help="the tests' significance level "
                        "(default: 0.01)")
    limits.add_argument("--min-error-rise", type=_not_negative, default=5.0,
                        metavar="POINTS", help="least rise of the error "
                        "ratio, in percentage points (default: 5)")
    limits.add_argument("--min-latency-rise", type=_not_negative,
                        default=20.0, metavar="PERCENT",
                        help="least rise of the p95, in percent (default: "
                        "20)")
    limits.add_argument("--min-latency-ms", type=_not_negative, default=5.0,
                        metavar="MS", help="and in milliseconds (default: 5)")
    impact.add_argument("--limit", type=_positive, default=100_000,
                        metavar="N", help="traces asked for per service at "
                        "most (default: 100000)")
    impact.add_argument("--timeout", type=_timeout, default=30.0,
                        metavar="S", help="seconds for the whole query "
                        "(default: 30)")
    impact.set_defaults(run=_impact)


def _port_or_off(text: str) -> Optional[int]:
    if text.lower() == "off":
        return None
    if text.isdigit() and 0 <= int(text) <= 65535:
        return int(text)
    raise argparse.ArgumentTypeError(
        f"{text!r}: expected an integer from 0 to 65535, or off"
    )


def _positive(text: str) -> int:
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer")


def _not_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value >= 0 and value == value and value != float("inf"):
        return value
    raise argparse.ArgumentTypeError(f"{text!r}: expected a number, 0 or "
                                     "more")


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if 0 < value < 1:
        return value
    raise argparse.ArgumentTypeError(f"{text!r}: expected a number between "
                                     "0 and 1")


#: the largest --max-bytes (bytes): a bound, not infinity (int(inf) raised)
_MAX_SIZE = 1 << 40
#: --timeout's range (seconds): shorter, the idle sweep would spin; longer,
#: stopping cannot wait for it (threading.TIMEOUT_MAX; 1e300 raised there
#: and the final write never ran)
_TIMEOUT_RANGE = (0.1, 86400.0)


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    number, unit = text.strip(), 1
    if number[-1:].lower() in units:
        number, unit = number[:-1], units[number[-1].lower()]
    try:
        value = float(number) * unit
    except ValueError:
        value = 0.0
    if 1 <= value <= _MAX_SIZE:  # not NaN, not infinite
        return int(value)
    raise argparse.ArgumentTypeError(
        f"{text!r}: expected a size from 1 byte to 1024G, such as 512M, 2G "
        "or 100000000")


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    low, high = _TIMEOUT_RANGE
    if low <= value <= high:  # not NaN, not infinite
        return value
    raise argparse.ArgumentTypeError(
        f"{text!r}: expected seconds from {low:g} to {high:g} (a day)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value > 0:
        return value
    raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")


def _spans(args: argparse.Namespace) -> "List[SpanData]":
    from chaostracing._data.inputs import load
    from chaostracing._data.model import jaeger_trace_hex
    from chaostracing._viewers.waterfall import printable

    def say(path: str, skipped: object) -> None:
        # one line per file: a bad span costs itself, and is not hidden
        print(f"chaostracing {args.command}: {printable(path, 300)}: "
              f"{printable(skipped, 600)}", file=sys.stderr)

    spans = load(args.files, say)
    if args.trace:
        wanted = args.trace.lower()
        # the start of the id as logs show it (32 digits) or as Jaeger
        # JSON writes it (16 when the high half is zero)
        spans = [s for s in spans if s.trace_id_hex.startswith(wanted)
                 or jaeger_trace_hex(s.trace_id).startswith(wanted)]
        if not spans:
            raise ValueError(f"no trace {printable(args.trace)} in "
                             + ", ".join(args.files))
    if not spans:
        raise ValueError(", ".join(args.files) + (
            " hold no span" if len(args.files) > 1 else " holds no span"))
    return spans


def _show(args: argparse.Namespace) -> int:
    from chaostracing._viewers.waterfall import render

    spans = _spans(args)
    tty = sys.stdout.isatty()
    color = tty and not os.environ.get("NO_COLOR")
    # piped output has no width to fit: leave room for the tags
    width = args.width or (None if tty else 150)
    sys.stdout.write(render(spans, width=width, color=color))
    return 0


def _report(args: argparse.Namespace) -> int:
    from chaostracing._data.jaegerjson import write_atomic
    from chaostracing._viewers.report import render

    spans = _spans(args)
    if args.ui_url and not args.ui_url.startswith(("http://", "https://")):
        raise ValueError(f"--ui-url {args.ui_url!r}: expected an http:// or "
                         "https:// URL")
    write_atomic(args.output, render(spans, args.ui_url))
    traces = len({s.trace_id for s in spans})
    print(f"chaostracing: {len(spans)} span(s) of {traces} trace(s) written to "
          f"{os.path.abspath(args.output)}", file=sys.stderr)
    return 0


def _collect(args: argparse.Namespace) -> int:
    from chaostracing._collector import Collector

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _return_large_blocks()
    collector = Collector(
        args.host, args.port, args.otlp_port, args.output, args.max_spans,
        args.query_port, max_bytes=args.max_bytes,
        allow_hosts=args.allow_host, cors=args.cors, timeout=args.timeout,
        warn=_say)
    deadline = time.monotonic() + args.duration if args.duration else None
    where = []
    if collector.udp_port is not None:
        where.append(f"udp://{args.host}:{collector.udp_port} (Jaeger agent)")
    if collector.otlp_port is not None:
        where.append(f"http://{_netloc(args.host, collector.otlp_port)}"
                     "/v1/traces (OTLP)")
    if collector.query_port is not None:
        where.append(f"http://{_netloc(args.host, collector.query_port)} "
                     "(Jaeger query API)")
    if collector.http_problem:  # one line for the ports it costs
        lost = []
        if args.otlp_port is not None:
            lost.append(f"receiving OTLP (--otlp-port {args.otlp_port})")
        if args.query_port is not None:
            lost.append("answering Jaeger's query API (--query-port "
                        f"{args.query_port})")
        print(f"chaostracing: not {' nor '.join(lost)}: "
              f"{collector.http_problem}", file=sys.stderr)
    if collector.otlp_problem:
        print(f"chaostracing: not receiving OTLP (--otlp-port "
              f"{args.otlp_port}): {collector.otlp_problem}", file=sys.stderr)
    if not where:
        print("chaostracing collect: nothing left to collect with",
              file=sys.stderr)
        collector.stop()
        return 1
    print(f"chaostracing: collecting on {', '.join(where)}, writing "
          f"{args.output}", file=sys.stderr, flush=True)
    with collector:
        try:
            while not stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                stop.wait(0.2 if left is None else min(0.2, left))
                collector.write()
        except KeyboardInterrupt:
            pass
    collector.write(force=True)
    if collector.write_problem is not None:  # the file never came back
        collector.write_elsewhere()
    print(f"chaostracing: {collector.summary()}", file=sys.stderr)
    return 0 if collector.write_problem is None else 1


def _return_large_blocks() -> None:
    """Large blocks (a body, its decoded strings) go back to the system
    when freed. glibc's malloc otherwise keeps them once it has seen one
    freed (its mmap threshold grows to that size), one heap per thread:
    after a few large bodies, collect held hundreds of MB it did not use."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD: 1 MiB, fixed
    except (OSError, AttributeError):
        pass


def _say(message: str) -> None:
    print(f"chaostracing: {message}", file=sys.stderr, flush=True)


def _impact(args: argparse.Namespace) -> int:
    import json

    from chaoslib.exceptions import ActivityFailed

    from chaostracing._impact import text
    from chaostracing._impact.verdicts import ImpactUnavailable, Thresholds

    thresholds = Thresholds(
        min_spans=args.min_spans, alpha=args.alpha,
        error_rise=args.min_error_rise / 100,
        latency_rise=args.min_latency_rise / 100,
        latency_ms=args.min_latency_ms)
    journal = _journal(args.journal)
    try:
        if args.spans:
            impact, spans = _impact_of_files(args, journal, thresholds)
        else:
            impact, spans = _impact_of_query(args, journal, thresholds)
    except (ActivityFailed, ImpactUnavailable) as error:
        raise ValueError(str(error)) from None
    if args.json:
        print(json.dumps(impact.as_json(), indent=1, ensure_ascii=False))
    else:
        sys.stdout.write(text.table(impact, everything=args.all))
    if args.output:
        _impact_report(args, journal, spans, impact)
    return 0


def _journal(path: str) -> "Dict[str, Any]":
    from chaostracing._data.jaegerjson import read_json_file

    _, journal = read_json_file(path)
    if not isinstance(journal, dict) or "experiment" not in journal:
        raise ValueError(f"{path} is not a Chaos Toolkit journal (no "
                         "experiment)")
    return journal


def _impact_of_files(args: argparse.Namespace, journal: "Dict[str, Any]",
                     thresholds: Any) -> Any:
    from chaostracing._data.inputs import load
    from chaostracing._impact import analysis, verdicts, windows

    verdicts.preload()
    spans = load(args.spans)
    times = windows.from_journal(journal, spans)
    return analysis.analyze(spans, windows.make(times, args.baseline,
                                                args.recovery),
                            thresholds), spans


def _impact_of_query(args: argparse.Namespace, journal: "Dict[str, Any]",
                     thresholds: Any) -> Any:
    from chaostracing._impact import endofrun, source, windows
    from chaostracing._probes.arguments import resolve_query_url

    url = resolve_query_url(args.query_url, None)
    trace_id = windows.journal_trace_id(journal)
    # the run's own trace, when the query service holds it: the method's
    # exact window, and the report's trace
    run = source.trace(url, trace_id, args.timeout) if trace_id else []
    times = windows.from_journal(journal, run)
    ends = times.run_end_us / 1e6 + args.recovery
    if args.recovery and time.time() < ends:
        print(f"chaostracing impact: the recovery window ends in "
              f"{ends - time.time():.1f} s: waiting for it", file=sys.stderr,
              flush=True)
        while time.time() < ends:
            time.sleep(min(0.2, max(ends - time.time(), 0)))
    impact = endofrun.compute(url, times, args.baseline,
                              recovery_s=args.recovery, wait_s=args.wait,
                              timeout=args.timeout, thresholds=thresholds,
                              limit=args.limit)
    return impact, run


def _impact_report(args: argparse.Namespace, journal: "Dict[str, Any]",
                   spans: "Optional[List[SpanData]]", impact: Any) -> None:
    """The report of the run's trace (from the spans given, else rebuilt
    from the journal), with the Impact section."""
    from chaostracing._data.inputs import rebuild_journal
    from chaostracing._data.jaegerjson import write_atomic
    from chaostracing._impact import graph
    from chaostracing._impact.windows import journal_trace_id
    from chaostracing._viewers.report import render


    trace_id = journal_trace_id(journal)
    run = [s for s in spans or () if s.trace_id == trace_id]
    if not run:
        run = rebuild_journal(journal)
    page = render(run, title="impact of "
                  + str(journal["experiment"].get("title") or "a run"),
                  impact={"result": impact.as_json(),
                          "graph": graph.layout(impact)})
    write_atomic(args.output, page)
    print(f"chaostracing: impact report written to "
          f"{os.path.abspath(args.output)}", file=sys.stderr)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
