"""The ``file`` provider: the run's trace as a Jaeger JSON file, no server.

Spans are cleaned on the pipeline's thread as they finish, kept in memory,
and written at the end of the run, atomically, in the format Jaeger UI's
"JSON File" upload reads; ``chaostracing show FILE`` draws it in the
terminal. The default file is ``chaostracing-trace.json`` next to the
journal (the folder of ``chaos run --journal-path``, else the current
folder); ``tracing_file`` changes it.
"""
import os
import sys
from typing import Dict, List, Optional

from chaostracing._data.jaegerjson import dumps, write_atomic
from chaostracing._data.model import SpanData
from chaostracing._run.config import TracingConfig
from chaostracing._run.pipeline import Transport, TransportBroken
from chaostracing._run.providers import Backend, assemble
from chaostracing._run.redact import Redactor

__all__ = ["DEFAULT_FILE", "FileTransport", "build", "default_path"]

DEFAULT_FILE = "chaostracing-trace.json"


class FileTransport(Transport):
    """Keeps every span it is given; writes them all when closed (and the
    HTML report, when asked)."""

    def __init__(self, path: str, report: Optional[str] = None,
                 ui_url: Optional[str] = None) -> None:
        self.path = path
        self.report = report
        self.ui_url = ui_url
        self.description = f"trace file {path}"
        self.spans: List[SpanData] = []
        self._closed = False
        self._report_written = False

    def send(self, spans: List[SpanData]) -> int:
        self.spans.extend(spans)
        return len(spans)

    def files(self) -> Dict[str, str]:
        files = {"trace_file": self.path}
        if self.report and (self._report_written or not self._closed):
            files["report"] = self.report
        return files

    def close(self) -> None:
        self._closed = True
        if not self.spans:
            return
        try:
            write_atomic(self.path, dumps(self.spans))
        except OSError as error:
            raise TransportBroken(
                f"cannot write the trace file {self.path} (tracing_file): "
                f"{error.strerror or error}",
                lost=len(self.spans),
            ) from None
        if self.report:
            from chaostracing._viewers.report import render

            try:
                write_atomic(self.report, render(self.spans, self.ui_url))
                self._report_written = True
            except OSError as error:
                from chaostracing._run import safety

                safety.warn_once(
                    "report", "cannot write the report %s (tracing_report): %s",
                    self.report, error.strerror or error)


def default_path(argv: Optional[List[str]] = None) -> str:
    """``chaostracing-trace.json`` in the folder of the run's journal."""
    argv = sys.argv if argv is None else argv
    journal = None
    for index, arg in enumerate(argv):
        if arg == "--journal-path" and index + 1 < len(argv):
            journal = argv[index + 1]
        elif arg.startswith("--journal-path="):
            journal = arg.split("=", 1)[1]
    folder = (os.path.dirname(os.path.abspath(journal)) if journal
              else os.getcwd())
    return os.path.join(folder, DEFAULT_FILE)


def build(config: TracingConfig, redactor: Redactor) -> Backend:
    path = os.path.abspath(config.file or default_path())
    report = config.report
    if report is True:
        from chaostracing._viewers.report import REPORT_FILE

        report = os.path.join(os.path.dirname(default_path()), REPORT_FILE)
    if report:
        report = os.path.abspath(report)
    return assemble(config, redactor,
                    FileTransport(path, report, config.ui_url))
