"""The ``file`` provider: the run's trace as a Jaeger JSON file, no server.

Spans are kept in memory during the run (one list append each) and written
at cleanup, atomically, in the format Jaeger UI's "JSON File" upload reads;
``chaostracing show FILE`` draws it in the terminal. The default file is
``chaostracing-trace.json`` next to the journal (the folder of ``chaos run
--journal-path``, else the current folder); ``tracing_file`` changes it.
"""
import os
import sys
import threading
from typing import Any, Dict, List, Optional

from chaostracing.config import TracingConfig
from chaostracing.exporters.records import from_span
from chaostracing.providers import Backend
from chaostracing.providers.jaeger import new_tracer
from chaostracing.redact import Redactor

__all__ = ["DEFAULT_FILE", "FileSpanSink", "default_path", "make_tracer"]

DEFAULT_FILE = "chaostracing-trace.json"


class FileSpanSink:
    """A reporter that writes every span it was given to one JSON file."""

    def __init__(self, path: str, redactor: Redactor) -> None:
        self.path = path
        self.redactor = redactor
        self.spans: List[Any] = []
        self.service = "chaostoolkit"
        self.tags: Dict[str, Any] = {}
        self._lock = threading.Lock()
        self.written = 0

    def set_process(self, service_name: str, tags: Dict[str, Any]) -> None:
        self.service, self.tags = service_name, dict(tags)

    def report_span(self, span: Any) -> None:
        self.spans.append(span)

    def close(self, timeout: float = 0) -> bool:
        from chaostracing.jaeger_json import dumps_traces, write_atomic

        with self._lock:
            spans, self.spans = self.spans, []
            if not spans:
                return True
            records = [from_span(span, self.redactor) for span in spans]
            process = (self.service, sorted(self.tags.items()))
            write_atomic(self.path, dumps_traces([(process, records)]))
            self.written += len(records)
        return True


def default_path(argv: Optional[List[str]] = None) -> str:
    """``chaostracing-trace.json`` in the folder of the run's journal."""
    argv = sys.argv if argv is None else argv
    journal = None
    for index, arg in enumerate(argv):
        if arg == "--journal-path" and index + 1 < len(argv):
            journal = argv[index + 1]
        elif arg.startswith("--journal-path="):
            journal = arg.split("=", 1)[1]
    folder = os.path.dirname(os.path.abspath(journal)) if journal else os.getcwd()
    return os.path.join(folder, DEFAULT_FILE)


def make_tracer(config: TracingConfig, redactor: Redactor) -> Backend:
    path = os.path.abspath(config.file or default_path())
    sink = FileSpanSink(path, redactor)
    tracer = new_tracer(config, sink)
    tracer.chaostracing_sink = sink
    return Backend(tracer, sink.close, f"trace file {path}")
