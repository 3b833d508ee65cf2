"""The ``chaostracing`` command: see a run's trace without a Jaeger server.

::

    chaostracing show chaostracing-trace.json          # draw the waterfall
    chaostracing collect --output trace.json           # be a Jaeger agent

Errors are one line on stderr and a non-zero exit status.
"""
import argparse
import os
import signal
import sys
import threading
import time
from typing import List, Optional

__all__ = ["main"]


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except (OSError, ValueError) as error:
        from chaostracing.waterfall import printable

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
    from chaostracing import __version__

    parser.add_argument(
        "--version", action="version", version=f"chaostracing {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    show = commands.add_parser(
        "show",
        help="draw a trace file as a waterfall",
        description="Draw the traces of a Jaeger JSON file (as written by "
        "the file provider or 'collect') as a waterfall: the span tree, "
        "start offsets and durations to scale, status, errors marked ✗.",
    )
    show.add_argument("file", metavar="FILE", help="a Jaeger JSON trace file")
    show.add_argument(
        "--trace", metavar="ID", help="only the trace whose id starts with ID"
    )
    show.add_argument(
        "--width",
        type=int,
        help="columns to use (default: the terminal's, 150 when piped)",
    )
    show.set_defaults(run=_show)

    collect = commands.add_parser(
        "collect",
        help="receive spans as a Jaeger agent and write them to a file",
        description="Listen on a UDP port as a Jaeger agent does (Thrift "
        "compact, as on 6831, or binary, as on 6832) and write what arrives "
        "as Jaeger JSON, on exit (Ctrl-C, or after --duration) and every "
        "second while spans arrive. Malformed datagrams are counted and "
        "skipped.",
    )
    collect.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: "
        "127.0.0.1)"
    )
    collect.add_argument(
        "--port", type=_port, default=6831, help="UDP port (default: 6831)"
    )
    collect.add_argument(
        "--output",
        default="chaostracing-trace.json",
        metavar="FILE",
        help="where to write (default: chaostracing-trace.json)",
    )
    collect.add_argument(
        "--duration",
        type=_seconds,
        metavar="S",
        help="stop after S seconds (default: run until interrupted)",
    )
    collect.set_defaults(run=_collect)
    return parser


def _port(text: str) -> int:
    if text.isdigit() and 1 <= int(text) <= 65535:
        return int(text)
    raise argparse.ArgumentTypeError(
        f"{text!r}: expected an integer from 1 to 65535"
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value > 0:
        return value
    raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")


def _show(args: argparse.Namespace) -> int:
    from chaostracing.jaegerjson import load_spans
    from chaostracing.waterfall import printable, render

    spans = load_spans(args.file)
    if args.trace:
        wanted = args.trace.lower()
        spans = [s for s in spans if s.trace_id_hex.startswith(wanted)]
        if not spans:
            raise ValueError(f"no trace {printable(args.trace)} in {args.file}")
    if not spans:
        raise ValueError(f"{args.file} holds no span")
    tty = sys.stdout.isatty()
    color = tty and not os.environ.get("NO_COLOR")
    # piped output has no width to fit: leave room for the tags
    width = args.width or (None if tty else 150)
    sys.stdout.write(render(spans, width=width, color=color))
    return 0


def _collect(args: argparse.Namespace) -> int:
    from chaostracing.jaeger.agent import AgentReceiver
    from chaostracing.jaegerjson import dumps, write_atomic

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    receiver = AgentReceiver(args.host, args.port)
    deadline = time.monotonic() + args.duration if args.duration else None
    print(
        f"chaostracing: collecting on udp://{args.host}:{receiver.port}, "
        f"writing {args.output}",
        file=sys.stderr,
        flush=True,
    )
    written = -1

    def save() -> int:
        spans = list(receiver.spans)
        write_atomic(args.output, dumps(spans))
        return len(spans)

    with receiver:
        saved_at = 0.0
        try:
            while not stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                stop.wait(0.2 if left is None else min(0.2, left))
                now = time.monotonic()
                if len(receiver.spans) != written and now - saved_at >= 1.0:
                    written, saved_at = save(), now
        except KeyboardInterrupt:
            pass
    written = save()
    print(
        f"chaostracing: {written} span(s) written to {args.output}"
        + (f", {receiver.malformed} malformed datagram(s) skipped"
           if receiver.malformed else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
