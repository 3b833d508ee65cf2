"""The traced run of this process, from ``configure_control`` to
``cleanup_control``: what :mod:`chaostracing.control` and
:mod:`chaostracing.oltp` call.

Every hook runs inside
:func:`chaostracing._run.safety.capture_internal_exceptions` (:func:`guarded`):
chaoslib only logs a failing control at DEBUG, so our own failures are
logged by us, once, at WARNING, and the run goes on untraced.
"""
import atexit
import functools
import inspect
import os
import sys
import time
from dataclasses import replace
from typing import (
    Any,
    Callable,
    Dict,
    List,
    NamedTuple,
    Optional,
    Tuple,
    TypeVar,
    cast,
)

from opentracing.propagation import SpanContextCorruptedException

from chaostracing._run import compat, extras, safety
from chaostracing._run import context as ctx
from chaostracing._run.config import (
    ConfigError,
    load_config,
    subject,
    unknown_keys,
    validate,
    with_experiment,
)
from chaostracing._run.redact import MIN_SECRET_LENGTH, Redactor, secret_values

__all__ = [
    "ImpactPlan",
    "cleanup",
    "configure",
    "current_run",
    "guarded",
    "hook",
    "impact_plan",
    "method_clock",
    "run_events",
    "set_current_run",
    "validate_block",
]

#: the run being traced, between configure_control and cleanup_control
_run: Optional[Any] = None
#: when the method started and ended (``start``, ``end``: seconds since the
#: epoch), kept between configure_control and cleanup_control whether the
#: run is traced or not: the blast_radius probe and the end-of-run impact
#: read it. None: no control in this run.
_clock: Optional[Dict[str, float]] = None
#: what tracing_impact asked for, between configure and cleanup
_impact: Optional["ImpactPlan"] = None


class ImpactPlan(NamedTuple):
    """What ``tracing_impact`` asked for (read at the end of the run)."""

    #: tracing_impact_baseline, seconds
    baseline: float
    #: tracing_impact_wait, seconds
    wait: float
    #: tracing_query_url
    query_url: str
    #: the run's own service name: its spans are the run's, not the system's
    own_service: str
#: problems chaoslib's validation already had us report (said once a run)
_reported: List[str] = []


def _disable() -> None:
    if _run is not None:
        _run.disabled = True


_Hook = TypeVar("_Hook", bound=Callable[..., None])


def guarded(hook: _Hook) -> _Hook:
    """``hook`` inside the safety net: an error of ours is one warning (named
    after the hook) and turns tracing off for the rest of the run."""

    @functools.wraps(hook)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with safety.capture_internal_exceptions(hook.__name__, _disable):
            hook(*args, **kwargs)

    return cast(_Hook, wrapper)


def _warn_problem(problem: str) -> None:
    """One warning per problem per run (validation may have given it)."""
    if problem not in _reported:
        _reported.append(problem)
        safety.warn_once(f"setting:{problem}", "%s", problem)


def configure(
    configuration: Any,
    secrets: Any,
    experiment: Any,
    event_registry: Any,
    arguments: Dict[str, Any],
    compatibility: Any = None,
    derived: Optional[Dict[str, str]] = None,
) -> None:
    """What ``configure_control`` does, for :mod:`chaostracing.control` and
    :mod:`chaostracing.oltp`, which also hands the run the attributes of
    0.18.1 to record (``compatibility``, see :mod:`chaostracing._run.compat`)
    and the settings it set for the user (``derived``, named as theirs in
    messages).
    """
    global _clock
    if _run is not None:
        return  # declared twice (e.g. globally and in the experiment)
    if _clock is None:
        _clock = {}
    safety.reset_warnings()
    redactor = Redactor()
    short = redactor.add_secrets(secret_values(secrets))
    safety.set_redactor(redactor.mask)
    if arguments and (configuration or secrets):
        from chaoslib import substitute

        arguments = substitute(arguments, configuration, secrets)
    configuration = configuration if isinstance(configuration, dict) else {}
    for problem in unknown_keys(configuration, arguments):
        _warn_problem(problem)
    try:
        config = load_config(configuration, arguments, derived=derived)
    except ConfigError as error:
        for problem in error.problems:  # each says tracing is off
            _warn_problem(problem)
        return
    _plan_impact(config, configuration, arguments)
    if not config.enabled:
        if "tracing_provider" in config.sources:
            safety.log_info("%s: tracing is off", subject(
                "tracing_provider", "noop",
                config.sources["tracing_provider"]) + (
                "" if config.sources["tracing_provider"].startswith("$")
                else " is 'noop'"))
        else:
            safety.log_info("no tracing_provider configured: tracing is off")
        return
    if short:
        safety.warn_once(
            "short-secrets",
            "%d secret(s) shorter than %d characters (%s) are masked in "
            "traces only where they are a whole value: inside longer text "
            "they cannot be told from ordinary words",
            len(short), MIN_SECRET_LENGTH, ", ".join(sorted(short)),
        )
    for note in config.notes:
        _warn_problem(note)
    config, missing = extras.plan(config)
    for message in missing:  # an extra not installed costs its feature
        _warn_problem(message)
    if isinstance(experiment, dict):
        config = with_experiment(config, experiment.get("title"))
    redactor.max_length = config.max_tag_length
    _start(config, redactor, event_registry, compatibility)


def _plan_impact(config: Any, configuration: Dict[str, Any],
                 arguments: Dict[str, Any]) -> None:
    """Keep what ``tracing_impact`` asks for, to be done at the run's end."""
    global _impact
    if not config.impact:
        return
    missing = extras.impact_needs(config)
    if missing:  # said once, extras.plan says it too when traced
        _warn_problem(missing)
        return
    from chaostracing._run.config import resolve

    try:
        url = resolve("tracing_query_url", dict(configuration, **arguments))
    except ConfigError as error:
        for problem in error.problems:
            _warn_problem(problem)
        return
    _impact = ImpactPlan(config.impact_baseline, config.impact_wait, url,
                         config.service_name)


def impact_plan() -> Optional[ImpactPlan]:
    """What ``tracing_impact`` asked for, or None (not asked, no control)."""
    return _impact


def method_clock() -> Optional[Dict[str, float]]:
    """When this run's method started and ended (``start``, ``end``:
    seconds since the epoch, each absent until it happened); None when no
    chaostracing control is in the run."""
    return None if _clock is None else dict(_clock)


def _tick(level: str, when: str) -> None:
    if level == "method" and _clock is not None:
        key = "start" if when == "before" else "end"
        if key == "start":
            _clock.setdefault(key, time.time())
        else:
            _clock[key] = time.time()


def _start(
    config: Any, redactor: Redactor, event_registry: Any,
    compatibility: Any = None,
) -> None:
    global _run
    from chaostracing._run.providers import ProviderUnavailable, make_backend
    from chaostracing._run.run import TracedRun, incoming_context

    try:
        backend = make_backend(config, redactor)
    except ProviderUnavailable as error:
        # installed, but broken (extras.plan found its files): the trace is
        # kept in a file all the same
        from chaostracing._run.providers.file import default_path

        path = config.file or os.path.abspath(default_path())
        safety.warn_once("provider", "%s; the trace is written to %s "
                         "instead", error, path)
        config = replace(config, provider="file", file=path)
        backend = make_backend(config, redactor)
    try:
        incoming = incoming_context(backend.tracer, os.environ)
    except SpanContextCorruptedException as error:
        safety.warn_once(
            "incoming",
            "ignoring the trace context in the environment (TRACEPARENT / "
            "UBER_TRACE_ID): %s",
            error,
        )
        incoming = None
    run = TracedRun(backend, config, redactor, incoming,
                    compatibility=compatibility)
    ctx.install(run.proxy)
    _run = run
    _instrument(run, config.instrument)
    if event_registry is not None:
        event_registry.register(run_events(run))
    # should the process end without chaoslib's cleanup (a crash in chaos
    # itself), deliver what we have anyway, within the flush timeout
    atexit.register(_cleanup_at_exit)


def _instrument(run: Any, names: Tuple[str, ...]) -> None:
    """Trace the client libraries of ``tracing_instrument``; bridge the
    OpenTelemetry API to the run as soon as anything imports it."""
    if "requests" in names:
        from chaostracing._run import requests as traced_requests

        if not traced_requests.is_instrumented():
            traced_requests.instrument()
            run.instrumented_requests = True
    # extras.plan kept only those whose instrumentation is installed
    others = tuple(n for n in names if n != "requests")
    if others:
        from chaostracing._run.otel import installation

        installation.instrument(
            others, run.config.propagation, safety.warn_once,
            functools.partial(extras.asked_for, run.config))
    else:
        from chaostracing._run import imports

        run.otel_hook = imports.when_imported("opentelemetry.trace", _bridge)


def _bridge() -> None:
    from chaostracing._run.otel import bridge

    bridge.enable()


def _uninstrument(run: Any) -> None:
    if run.instrumented_requests:
        from chaostracing._run import requests as traced_requests

        traced_requests.uninstrument()
    if run.otel_hook is not None:
        run.otel_hook.remove()
    installation = sys.modules.get("chaostracing._run.otel.installation")
    if installation is not None:
        installation.uninstrument()
    bridge = sys.modules.get("chaostracing._run.otel.bridge")
    if bridge is not None:
        bridge.disable()
    processes = sys.modules.get("chaostracing._run.processes")
    if processes is not None:
        processes.unpatch()


def validate_block(control: Dict[str, Any], oltp: bool = False) -> None:
    """Warn about every bad tracing setting before the run starts:
    control arguments and the experiment's ``tracing_*`` configuration, and
    the features whose extra is not installed.

    This only warns: a tracing mistake must never stop the experiment.

    :param oltp: the block is :mod:`chaostracing.oltp`'s, whose ``trace_*``
        flags are read as that control reads them
    """
    with safety.capture_internal_exceptions("validate_control"):
        provider = (control.get("provider") if isinstance(control, dict)
                    else None)
        arguments = (provider.get("arguments") if isinstance(provider, dict)
                     else None)
        arguments = arguments or {}
        if not isinstance(arguments, dict):
            _warn_problem(
                f"the control's provider arguments are a "
                f"{type(arguments).__name__}: expected a mapping; tracing "
                "is off until it is fixed")
            return
        derived = None
        if oltp:
            derived = compat.oltp_sources(arguments)
            arguments = compat.oltp_arguments(arguments)
        configuration = _configuration_being_validated()
        for problem in validate(configuration, arguments):
            _warn_problem(problem)
        for message in extras.validate(configuration, arguments, derived):
            _warn_problem(message)


def _configuration_being_validated() -> Dict[str, Any]:
    """The ``configuration`` of the experiment chaoslib is validating.

    chaoslib calls ``validate_control(control)`` with the control block
    only, from ``validate_controls(experiment)``, and keeps the experiment
    nowhere else we could read it: no argument, setting or global (its
    activity cache, ``chaoslib.caching``, holds activities, not the
    configuration). Checked in chaostoolkit-lib 1.44.0 (the newest release
    the package index offers, and the one installed), in 1.45.0 (tagged in
    its repository on 2026-08-08, for Python 3.12 and later) and on its
    main branch (72f814b): ``validate_python_control`` in
    ``control/python.py`` still calls ``func(control)``, where the other
    hooks get ``experiment``, ``configuration``... by signature.

    So the settings the README puts in the experiment's configuration are
    read from that caller's frame, through :func:`inspect.currentframe`.
    Anything unexpected gives ``{}``: only the control's own arguments are
    checked then. Should chaoslib one day pass the experiment or its
    configuration to ``validate_control``, read it there and keep this as
    the fallback for older releases.

    ``chaos run`` validates before it applies ``--var`` and ``--var-file``
    (chaoslib applies them when the run starts), so a declared value the
    command line replaces would be reported although the run never uses it.
    chaostoolkit's ``run`` command (1.19.0, and its repository at 099ac5b)
    keeps them in its ``experiment_vars`` local, further up: they are
    applied here as chaoslib will apply them, to the keys the configuration
    declares.
    (``chaos validate`` has no ``--var``.)
    """
    frame = inspect.currentframe()
    configuration: Optional[Dict[str, Any]] = None
    for _ in range(20):
        if frame is None:
            break
        name = frame.f_code.co_name
        if configuration is None and name in ("validate_controls",
                                              "ensure_experiment_is_valid"):
            experiment = frame.f_locals.get("experiment")
            if isinstance(experiment, dict):
                found = experiment.get("configuration")
                configuration = found if isinstance(found, dict) else {}
        elif configuration is not None and name == "run" and \
                _is_chaos_run(frame.f_code.co_filename):
            return _with_vars(configuration,
                              frame.f_locals.get("experiment_vars"))
        frame = frame.f_back
    return configuration or {}


def _is_chaos_run(filename: str) -> bool:
    """Whether ``filename`` is chaostoolkit's ``commands/run.py``."""
    return tuple(os.path.normpath(filename).split(os.sep)[-3:]) == (
        "chaostoolkit", "commands", "run.py")


def _with_vars(configuration: Dict[str, Any], experiment_vars: Any
               ) -> Dict[str, Any]:
    """``configuration`` with the ``--var`` / ``--var-file`` values of its
    declared keys (chaoslib's rule: an undeclared key is dropped)."""
    if not (isinstance(experiment_vars, tuple) and experiment_vars
            and isinstance(experiment_vars[0], dict)):
        return configuration
    values = experiment_vars[0]
    return {key: values.get(key, value)
            for key, value in configuration.items()}


def cleanup() -> None:
    """Finish what is still open, deliver every span, restore the tracer."""
    global _run, _clock, _impact
    run, _run = _run, None
    _reported.clear()
    _clock = _impact = None
    if run is None:
        return
    atexit.unregister(_cleanup_at_exit)
    try:
        run.finish_all("interrupted")
    finally:
        try:
            _uninstrument(run)
        finally:
            ctx.restore(run.proxy)
        try:
            _shutdown(run)
        finally:
            safety.set_redactor(None)


def _cleanup_at_exit() -> None:
    if _run is not None:
        _guarded_cleanup()


def _guarded_cleanup() -> None:
    with safety.capture_internal_exceptions("cleanup_control", _disable):
        cleanup()


def run_events(run: Any) -> Any:
    """A chaoslib ``RunEventHandler`` telling ``run`` what happens."""
    from chaoslib.run import RunEventHandler

    class Events(RunEventHandler):  # type: ignore[misc]  # chaoslib: untyped
        def start_hypothesis_before(self, experiment: Any) -> None:
            run.event("start_hypothesis_before")

        def start_hypothesis_after(self, experiment: Any) -> None:
            run.event("start_hypothesis_after")

        def start_method(self, experiment: Any) -> None:
            run.event("start_method")

        def interrupted(self, experiment: Any, journal: Any) -> None:
            run.event("interrupted")

        def signal_exit(self) -> None:
            run.event("signal_exit")

        def finish(self, journal: Any) -> None:
            if _run is run:  # cleanup_control was never called
                _guarded_cleanup()

    return Events()


def _shutdown(run: Any) -> None:
    """Deliver the trace within the flush timeout; say what happened, once."""
    timeout = run.config.flush_timeout
    delivered = run.backend.close(timeout)
    stats = run.backend.stats()
    where = run.backend.description
    trace = f"trace {run.trace_id}" if run.trace_id else "the trace"
    record = run.journal_record
    files = run.backend.files()  # what was written, now it is closed
    if record is not None:
        record.update(
            spans_sent=stats.sent,
            spans_dropped=stats.dropped + stats.queued,
            delivered=stats.problem is None and delivered and not stats.dropped,
        )
        if "report" in record and "report" not in files:
            del record["report"]  # it could not be written: said above
        if stats.problem:
            record["problem"] = stats.problem
    if stats.problem:
        safety.warn_once(
            "not-delivered", "%s was not delivered to the %s: %s",
            trace, where, stats.problem,
        )
        return
    if not delivered:
        safety.warn_once(
            "flush-timeout",
            "%s: %d span(s) sent to the %s, %d still being sent after %gs "
            "(tracing_flush_timeout) are missing from it",
            trace, stats.sent, where, stats.queued, timeout,
        )
        return
    if stats.dropped:
        safety.warn_once(
            "dropped",
            "%s: %d span(s) sent to the %s, %d dropped (more than %d waited "
            "to be sent, see tracing_max_queue_size, or a span could not be "
            "converted)",
            trace, stats.sent, where, stats.dropped, run.config.max_queue_size,
        )
        return
    verb = "written to the" if run.config.provider == "file" else "sent to the"
    safety.log_info(
        "%s: %d span(s) %s %s%s%s",
        trace, stats.sent, verb, where,
        f", its report to {files['report']}" if "report" in files else "",
        f"; view it at {run.trace_url}" if run.trace_url else "",
    )


def _active() -> Optional[Any]:
    run = _run
    if run is None or run.disabled:
        return None
    return run


def hook(level: str, when: str) -> Callable[..., None]:
    if when == "before":

        def before(context: Any, **kwargs: Any) -> None:
            _tick(level, when)
            run = _active()
            if run is not None:
                run.begin(level, context)

        before.__name__ = f"before_{level}_control"
        return guarded(before)

    def after(context: Any, state: Any = None, **kwargs: Any) -> None:
        _tick(level, when)
        run = _active()
        if run is not None:
            run.end(level, context, state)

    after.__name__ = f"after_{level}_control"
    return guarded(after)



def current_run() -> Optional[Any]:
    """The run being traced (a :class:`~chaostracing._run.run.TracedRun`),
    between ``configure_control`` and ``cleanup_control``, else ``None``."""
    return _run


def set_current_run(run: Optional[Any]) -> None:
    """Make ``run`` the traced run (tests that drive hooks by hand)."""
    global _run
    _run = run
