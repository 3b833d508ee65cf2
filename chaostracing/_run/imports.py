"""Call a function once a module has been imported (a post-import hook).

The run bridges OpenTelemetry's API to its tracer only if something uses
that API, and must not import OpenTelemetry itself to find out: an
extension imports ``opentelemetry.trace`` when chaoslib first calls it,
mid-run. wrapt offers post-import hooks, but importing wrapt would cost
every traced run its import time (``benchmarks/import_cost.py``), so this is
a small finder of our own: it is the first entry of
``sys.meta_path`` while a run is traced, asks the others to find the module,
and wraps the loader so the callback runs right after the module executed.
"""
import importlib.abc
import importlib.machinery
import sys
import threading
from typing import Any, Callable, Optional

from chaostracing._run import safety

__all__ = ["AfterImport", "when_imported"]


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, done: Callable[[], None]) -> None:
        self._loader = loader
        self._done = done

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._loader  # as if we had never been there
        self._loader.exec_module(module)
        self._done()


class AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``callback`` once, after ``name`` is imported."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name = name
        self._callback = callback
        self._lock = threading.Lock()
        self._fired = False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.name or self._fired:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, self.fire)
        return spec

    def fire(self) -> None:
        with self._lock:
            if self._fired:
                return
            self._fired = True
        self.remove()
        with safety.capture_internal_exceptions(
                f"react to {self.name}'s import"):
            self._callback()

    def remove(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


def when_imported(name: str, callback: Callable[[], None]) -> Optional[
        AfterImport]:
    """Call ``callback`` once ``name`` is imported: now if it already is,
    else right after its import. :return: the hook, to ``remove()``."""
    if name in sys.modules:
        with safety.capture_internal_exceptions(f"react to {name}'s import"):
            callback()
        return None
    hook = AfterImport(name, callback)
    sys.meta_path.insert(0, hook)
    return hook
