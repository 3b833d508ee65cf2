"""The Chaos Toolkit control: one distributed trace per ``chaos run``.

Declare it in an experiment (or a hypothesis, an activity, or the settings'
global controls)::

    "configuration": {"tracing_provider": "jaeger", "tracing_port": 6831},
    "controls": [{"name": "chaostracing",
                  "provider": {"type": "python",
                               "module": "chaostracing.control"}}]

Each hook is a line that calls :class:`~chaostracing.run.TracedRun`, inside
:func:`_guarded`: chaoslib only logs a failing control at DEBUG, so our own
failures are logged here, once, at WARNING, and the run goes on untraced.
"""
import atexit
import dataclasses
import functools
import logging
import os
from typing import Any, Callable, Dict, List, Optional

from opentracing.propagation import SpanContextCorruptedException

from chaostracing import context as ctx
from chaostracing.config import ConfigError, load_config, validate_arguments
from chaostracing.providers import ProviderUnavailable, make_backend
from chaostracing.redact import Redactor, secret_values
from chaostracing.run import TracedRun, incoming_context

__all__ = [
    "configure_control",
    "validate_control",
    "cleanup_control",
    "before_experiment_control",
    "after_experiment_control",
    "before_hypothesis_control",
    "after_hypothesis_control",
    "before_method_control",
    "after_method_control",
    "before_rollback_control",
    "after_rollback_control",
    "before_activity_control",
    "after_activity_control",
]
logger = logging.getLogger("chaostoolkit")

#: the run being traced, between configure_control and cleanup_control
_run: Optional[TracedRun] = None
#: set by our own test suite so that internal errors fail the tests
_RAISE_ERRORS = os.environ.get("CHAOSTRACING_RAISE_ERRORS") == "1"
_warned: List[str] = []


def _guarded(hook: Callable) -> Callable:
    @functools.wraps(hook)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        global _run
        try:
            hook(*args, **kwargs)
        except Exception as error:
            if _RAISE_ERRORS:
                raise
            _warn_once(
                f"chaostracing: internal error in {hook.__name__} "
                f"({type(error).__name__}: {error}); the run goes on untraced"
            )
            logger.debug("chaostracing internal error", exc_info=True)
            if _run is not None:
                _run.disabled = True

    return wrapper


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.append(message)
        logger.warning(message)


@_guarded
def configure_control(
    configuration: Dict[str, Any] = None,
    secrets: Dict[str, Any] = None,
    settings: Dict[str, Any] = None,
    experiment: Dict[str, Any] = None,
    event_registry: Any = None,
    **arguments: Any,
) -> None:
    """Build the tracer of the run from the configuration and arguments."""
    global _run
    if _run is not None:
        return  # declared twice (e.g. globally and in the experiment)
    _warned.clear()
    if arguments and (configuration or secrets):
        from chaoslib import substitute

        arguments = substitute(arguments, configuration, secrets)
    try:
        config = load_config(configuration, arguments)
    except ConfigError as error:
        _warn_once(f"chaostracing: {error}; the run goes on untraced")
        return
    if isinstance(experiment, dict) and isinstance(experiment.get("title"), str):
        config = dataclasses.replace(config, experiment_title=experiment["title"])
    if not config.enabled:
        logger.info(
            "chaostracing: no tracing_provider configured, tracing is off"
        )
        return
    redactor = Redactor(config.max_tag_length)
    redactor.add_secrets(secret_values(secrets))
    try:
        backend = make_backend(config, redactor)
    except ProviderUnavailable as error:
        _warn_once(f"chaostracing: {error}; the run goes on untraced")
        return
    try:
        incoming = incoming_context(backend.tracer, os.environ)
    except SpanContextCorruptedException as error:
        _warn_once(
            f"chaostracing: ignoring the trace context in the environment "
            f"(TRACEPARENT / UBER_TRACE_ID): {error}"
        )
        incoming = None
    run = TracedRun(backend, config, redactor, incoming)
    ctx.install(run.proxy)
    _run = run
    if config.instrument_requests:
        from chaostracing_contrib import requests as traced_requests

        if not traced_requests.is_instrumented():
            traced_requests.instrument()
            run.instrumented_requests = True
    if event_registry is not None:
        event_registry.register(_run_events(run))
    # should the process end without chaoslib's cleanup (a crash in chaos
    # itself), deliver what we have anyway, within the flush timeout
    atexit.register(_cleanup_at_exit)
    logger.debug("chaostracing: sending spans to the %s", backend.description)


def validate_control(control: Dict[str, Any]) -> None:
    """Warn about bad control arguments before the run starts.

    This only warns: a tracing mistake must never stop the experiment.
    """
    provider = control.get("provider") or {}
    arguments = provider.get("arguments") or {}
    if not isinstance(arguments, dict):
        logger.warning(
            "chaostracing: the control's provider arguments are %r: "
            "expected a mapping; tracing will be off",
            type(arguments).__name__,
        )
        return
    # values such as "${tracing_host}" are only known at run time
    static = {
        k: v
        for k, v in arguments.items()
        if not (isinstance(v, str) and "${" in v)
    }
    for error in validate_arguments(static):
        logger.warning("chaostracing: %s", error)


@_guarded
def cleanup_control() -> None:
    """Finish what is still open, deliver every span, restore the tracer."""
    global _run
    run, _run = _run, None
    if run is None:
        return
    atexit.unregister(_cleanup_at_exit)
    try:
        left = run.finish_all("interrupted")
        if left:
            logger.debug("chaostracing: finished %d span(s) left open", left)
    finally:
        if run.instrumented_requests:
            from chaostracing_contrib import requests as traced_requests

            traced_requests.uninstrument()
        ctx.restore(run.proxy)
        _shutdown(run)


def _cleanup_at_exit() -> None:
    if _run is not None:
        cleanup_control()


def _run_events(run: TracedRun) -> Any:
    """A chaoslib ``RunEventHandler`` telling ``run`` why it stopped."""
    from chaoslib.run import RunEventHandler

    class Events(RunEventHandler):
        def interrupted(self, experiment: Any, journal: Any) -> None:
            run.interrupted_by = "InterruptExecution"

        def signal_exit(self) -> None:
            run.interrupted_by = "signal"

        def finish(self, journal: Any) -> None:
            if _run is run:  # cleanup_control was never called
                cleanup_control()

    return Events()


def _shutdown(run: TracedRun) -> None:
    timeout = run.config.flush_timeout
    try:
        delivered = run.backend.close(timeout)
    except OSError as error:
        _warn_once(
            f"chaostracing: could not deliver the trace to the "
            f"{run.backend.description}: {error}"
        )
        return
    if run.trace_id:
        logger.info(
            "chaostracing: trace %s sent to the %s%s",
            run.trace_id,
            run.backend.description,
            f"; view it at {run.trace_url}" if run.trace_url else "",
        )
    sender = getattr(run.backend.tracer, "chaostracing_sender", None)
    problem = getattr(sender, "problem", None)
    if problem:
        return  # already reported, once, when it happened
    if not delivered:
        _warn_once(
            f"chaostracing: spans were still being sent to the "
            f"{run.backend.description} after {timeout:g}s "
            "(tracing_flush_timeout); some may be missing from the trace"
        )
    dropped = getattr(sender, "dropped", 0)
    if dropped:
        _warn_once(
            f"chaostracing: {dropped} span(s) dropped: more than "
            f"{run.config.max_queue_size} waited to be sent "
            "(tracing_max_queue_size)"
        )


def _active() -> Optional[TracedRun]:
    run = _run
    if run is None or run.disabled:
        return None
    return run


def _hook(level: str, when: str) -> Callable:
    if when == "before":

        def before(context: Any, **kwargs: Any) -> None:
            run = _active()
            if run is not None:
                run.begin(level, context)

        before.__name__ = f"before_{level}_control"
        return _guarded(before)

    def after(context: Any, state: Any = None, **kwargs: Any) -> None:
        run = _active()
        if run is not None:
            run.end(level, context, state)

    after.__name__ = f"after_{level}_control"
    return _guarded(after)


before_experiment_control = _hook("experiment", "before")
after_experiment_control = _hook("experiment", "after")
before_hypothesis_control = _hook("hypothesis", "before")
after_hypothesis_control = _hook("hypothesis", "after")
before_method_control = _hook("method", "before")
after_method_control = _hook("method", "after")
before_rollback_control = _hook("rollback", "before")
after_rollback_control = _hook("rollback", "after")
before_activity_control = _hook("activity", "before")
after_activity_control = _hook("activity", "after")
