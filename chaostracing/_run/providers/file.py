"""The ``file`` provider: the run's trace as a Jaeger JSON file, no server.

Spans are cleaned on the pipeline's thread as they finish, kept in memory,
and written at the end of the run, atomically, in the format Jaeger UI's
"JSON File" upload reads; ``chaostracing show FILE`` draws it in the
terminal. The default file is ``chaostracing-trace.json`` next to the
journal (the folder of ``chaos run --journal-path``, else the current
folder); ``tracing_file`` changes it.

Runs at the same time that would write the same file get distinct files:
from its start, a run holds an advisory lock (``flock``) on a lock file
beside its trace file, and a run that finds the file held writes
``chaostracing-trace-2.json`` (``-3``...) instead, and says so. A file an
earlier run wrote is replaced whole, keeping its mode. The journal's
``delivered`` is true only when the file holds the run's spans once written.
"""
import os
import sys
from typing import Dict, List, Optional, Tuple

from chaostracing._data.jaegerjson import dumps, write_atomic
from chaostracing._data.model import SpanData
from chaostracing._run import safety
from chaostracing._run.config import TracingConfig
from chaostracing._run.pipeline import Transport, TransportBroken
from chaostracing._run.providers import Backend, assemble
from chaostracing._run.redact import Redactor

__all__ = ["DEFAULT_FILE", "Claim", "FileTransport", "build", "claim",
           "default_path"]

DEFAULT_FILE = "chaostracing-trace.json"


class Claim:
    """A run's hold on the trace file it will write: an exclusive advisory
    lock on ``.NAME.lock`` beside it, taken without waiting, released once
    the file is written or when the process ends (the system drops the
    lock of a process that died). Where ``fcntl`` is missing (Windows) no
    lock is taken."""

    def __init__(self, path: str, fd: Optional[int], lock: str) -> None:
        self.path = path
        self._fd = fd
        self._lock = lock

    @staticmethod
    def take(path: str) -> "Optional[Claim]":
        """The claim on ``path``, or None when another run holds it."""
        folder, name = os.path.split(path)
        lock = os.path.join(folder, f".{name}.lock")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return Claim(path, None, lock)
        for _ in range(8):
            try:
                os.makedirs(folder, exist_ok=True)
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # an unwritable folder: writing will say so
                return Claim(path, None, lock)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return None
            try:  # the file locked is still the one at that name
                if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                    return Claim(path, fd, lock)
            except OSError:
                pass
            os.close(fd)  # removed by the run that released it: again
        return None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.unlink(self._lock)  # while still holding it (see take)
        except OSError:
            pass
        os.close(fd)


def claim(path: str) -> Tuple[str, Optional[Claim]]:
    """The file this run writes: ``path`` unless another run holds it, then
    ``NAME-2.json``, ``NAME-3.json``... and the claim on it."""
    stem, ext = os.path.splitext(path)
    for number in range(1, 100):
        candidate = path if number == 1 else f"{stem}-{number}{ext}"
        held = Claim.take(candidate)
        if held is not None:
            return candidate, held
    return path, None


class FileTransport(Transport):
    """Keeps every span it is given; writes them all when closed (and the
    HTML report, when asked)."""

    def __init__(self, path: str, report: Optional[str] = None,
                 ui_url: Optional[str] = None,
                 held: Optional[Claim] = None) -> None:
        self.path = path
        self.report = report
        self.ui_url = ui_url
        self.description = f"trace file {path}"
        self.spans: List[SpanData] = []
        self._closed = False
        self._report_written = False
        self.held = held

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
        try:
            self._write()
        finally:
            if self.held is not None:
                self.held.release()

    def _write(self) -> None:
        if not self.spans:
            return
        try:
            inode = write_atomic(self.path, dumps(self.spans))
            now = os.stat(self.path).st_ino
        except OSError as error:
            raise TransportBroken(
                f"cannot write the trace file {self.path} (tracing_file): "
                f"{error.strerror or error}",
                lost=len(self.spans),
            ) from None
        if now != inode:
            raise TransportBroken(
                f"the trace file {self.path} (tracing_file) was replaced by "
                "another writer as this run wrote it", lost=len(self.spans))
        if self.report:
            from chaostracing._viewers.report import render

            try:
                write_atomic(self.report, render(self.spans, self.ui_url))
                self._report_written = True
            except OSError as error:
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
    wanted = os.path.abspath(config.file or default_path())
    path, held = claim(wanted)
    report = config.report
    if report is True:
        from chaostracing._viewers.report import REPORT_FILE

        report = os.path.join(os.path.dirname(default_path()), REPORT_FILE)
    if report:
        report = os.path.abspath(report)
    if path != wanted:
        safety.warn_once(
            "file-taken", "the trace file %s (tracing_file) is being written "
            "by another run: this run's trace goes to %s", wanted, path)
        if report:  # the report beside it, numbered the same way
            number = os.path.splitext(path)[0][len(
                os.path.splitext(wanted)[0]):]
            stem, ext = os.path.splitext(report)
            report = f"{stem}{number}{ext}"
    return assemble(config, redactor,
                    FileTransport(path, report, config.ui_url, held))
