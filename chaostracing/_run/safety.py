"""The safety net around everything chaostracing does on a user's behalf.

Modelled on sentry-python's ``capture_internal_exceptions``: chaostracing's
own code (hooks, wrappers, exporter threads) runs inside
:func:`capture_internal_exceptions`. An error there is *ours*: it is logged
once per kind at WARNING (chaoslib only logs a failing control at DEBUG, so
nobody would ever see it otherwise) and swallowed, so that tracing never
breaks an experiment. The user's own exceptions never pass through it.

Every line we log goes through :func:`warn_once` or :func:`log_info`, which
mask the secrets of the run being traced (see :func:`set_redactor`), so a
bad setting filled from a secret cannot leak it through a warning.

Strict mode, for our own test suite (``CHAOSTRACING_RAISE_ERRORS=1`` in the
environment, inherited by ``chaos run`` subprocesses, or :func:`strict`):
an internal error is written to stderr with its traceback under the marker
:data:`STRICT_MARKER`, remembered in :data:`errors`, and re-raised. chaoslib
swallows what a control raises, so tests look for the marker in the output
of subprocesses and at :data:`errors` in process.
"""
import contextlib
import logging
import os
import sys
import threading
import traceback
from typing import Any, Callable, Iterator, List, Optional, Set

__all__ = [
    "STRICT_MARKER",
    "capture_internal_exceptions",
    "errors",
    "guarded",
    "is_strict",
    "log_info",
    "reset_warnings",
    "set_redactor",
    "strict",
    "warn_once",
]
logger = logging.getLogger("chaostoolkit")

STRICT_MARKER = "CHAOSTRACING INTERNAL ERROR"
_ENV = "CHAOSTRACING_RAISE_ERRORS"

#: internal errors seen in strict mode (tests assert it stays empty)
errors: List[str] = []
_warned: Set[str] = set()
_lock = threading.Lock()
_strict_override: Optional[bool] = None
_redact: Optional[Callable[[str], str]] = None


def is_strict() -> bool:
    """Whether internal errors are raised (our test suite) or swallowed."""
    if _strict_override is not None:
        return _strict_override
    return os.environ.get(_ENV) == "1"


@contextlib.contextmanager
def strict(enabled: bool = True) -> Iterator[None]:
    """Turn strict mode on (or off) inside the block."""
    global _strict_override
    saved, _strict_override = _strict_override, enabled
    try:
        yield
    finally:
        _strict_override = saved


def set_redactor(clean: Optional[Callable[[str], str]]) -> None:
    """Mask our log lines with ``clean`` (the run's redactor), or stop."""
    global _redact
    _redact = clean


def reset_warnings() -> None:
    """Forget which warnings were given (a new run starts)."""
    with _lock:
        _warned.clear()


def warn_once(kind: str, message: str, *args: Any) -> bool:
    """Log ``message % args`` at WARNING unless ``kind`` was already warned.

    :return: whether the warning was logged now.
    """
    with _lock:
        if kind in _warned:
            return False
        _warned.add(kind)
    logger.warning(_masked(
        "chaostracing: " + (message % args if args else message)))
    return True


def log_info(message: str, *args: Any) -> None:
    """Log one of our INFO lines, masked."""
    if logger.isEnabledFor(logging.INFO):
        logger.info(_masked(
            "chaostracing: " + (message % args if args else message)))


class capture_internal_exceptions:
    """Run chaostracing's own code: an error in it never reaches the user.

    :param kind: what was being done ("before_activity_control", "encode a
        span"...): the warning names it, and is given once per kind.
    :param on_error: called after an error was reported (e.g. to switch
        tracing off for the rest of the run).

    A class rather than a ``contextlib`` generator: it wraps every traced
    request and decorated call, and costs a fraction as much
    (``benchmarks/micro_cost.py``).
    """

    __slots__ = ("kind", "on_error")

    def __init__(
        self, kind: str, on_error: Optional[Callable[[], None]] = None
    ) -> None:
        self.kind = kind
        self.on_error = on_error

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, tb: Any) -> bool:
        if error is None or not isinstance(error, Exception):
            return False  # nothing happened, or KeyboardInterrupt & co
        report_internal_error(self.kind, error)
        if self.on_error is not None:
            self.on_error()
        return not is_strict()  # swallowed, unless our tests are watching


def guarded(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form of :func:`capture_internal_exceptions` (returns None
    when the function failed)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        import functools

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with capture_internal_exceptions(kind):
                return func(*args, **kwargs)
            return None

        return wrapper

    return decorate


def report_internal_error(kind: str, error: BaseException) -> None:
    """Log an internal error: once per kind, or loudly in strict mode."""
    if is_strict():
        text = "".join(
            traceback.format_exception(type(error), error, error.__traceback__)
        )
        with _lock:
            errors.append(f"{kind}: {type(error).__name__}: {error}")
        # chaoslib may swallow what we raise: say it where tests look
        sys.stderr.write(f"{STRICT_MARKER} in {kind}:\n{_masked(text)}\n")
        sys.stderr.flush()
        return
    warn_once(
        f"internal:{kind}",
        "internal error in %s (%s: %s); tracing goes on where it can, "
        "and the experiment is not affected",
        kind,
        type(error).__name__,
        _describe(error),
    )
    logger.debug("chaostracing internal error in %s", kind, exc_info=True)


def _describe(error: BaseException) -> str:
    try:
        return str(error)[:300]
    except Exception:
        return "(unprintable)"


def _masked(text: str) -> str:
    clean = _redact
    if clean is None:
        return text
    try:
        return clean(text)
    except Exception:  # never let masking stop a warning
        return "(a message that could not be masked was withheld)"
