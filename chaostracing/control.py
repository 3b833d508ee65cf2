"""The Chaos Toolkit control: one distributed trace per ``chaos run``.

Declare it in an experiment (or a hypothesis, an activity, or the settings'
global controls)::

    "configuration": {"tracing_provider": "jaeger", "tracing_port": 6831},
    "controls": [{"name": "chaostracing",
                  "provider": {"type": "python",
                               "module": "chaostracing.control"}}]

Each hook is a line that calls :mod:`chaostracing._run.lifecycle`, inside
its safety net: chaoslib only logs a failing control at DEBUG, so our own
failures are logged by us, once, at WARNING, and the run goes on untraced.
With ``tracing_impact``, the end of the experiment also computes the run's
impact (:mod:`chaostracing._impact.endofrun`, docs/impact.md).
"""
import time
from typing import Any, Dict, Optional

from chaostracing._run import lifecycle

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


@lifecycle.guarded
def configure_control(
    configuration: Optional[Dict[str, Any]] = None,
    secrets: Optional[Dict[str, Any]] = None,
    settings: Optional[Dict[str, Any]] = None,
    experiment: Optional[Dict[str, Any]] = None,
    event_registry: Any = None,
    **arguments: Any,
) -> None:
    """Build the tracer of the run from the configuration and arguments."""
    lifecycle.configure(configuration, secrets, experiment, event_registry,
                        arguments)


def validate_control(control: Dict[str, Any]) -> None:
    """Warn about every bad tracing setting before the run starts:
    control arguments and the experiment's ``tracing_*`` configuration.

    This only warns: a tracing mistake must never stop the experiment.
    """
    lifecycle.validate_block(control)


@lifecycle.guarded
def cleanup_control() -> None:
    """Finish what is still open, deliver every span, restore the tracer."""
    lifecycle.cleanup()


before_experiment_control = lifecycle.hook("experiment", "before")
_after_experiment = lifecycle.hook("experiment", "after")


def after_experiment_control(context: Any, state: Any = None,
                             **kwargs: Any) -> None:
    """Finish the run's span; with ``tracing_impact``, compute the run's
    impact and store it in the journal (``state``)."""
    _after_experiment(context, state, **kwargs)
    _impact_at_end(state)


@lifecycle.guarded
def _impact_at_end(state: Any) -> None:
    plan = lifecycle.impact_plan()
    if plan is not None and isinstance(state, dict):
        from chaostracing._impact import endofrun

        endofrun.after_run(state, plan, _method_times())


def _method_times() -> Any:
    """The run's times from the control's clock, when it saw the method."""
    from chaostracing._impact.windows import RunTimes

    clock = lifecycle.method_clock() or {}
    if "start" not in clock or "end" not in clock:
        return None
    end = int(clock["end"] * 1e6)
    return RunTimes(int(clock["start"] * 1e6), end,
                    max(end, time.time_ns() // 1000))


before_hypothesis_control = lifecycle.hook("hypothesis", "before")
after_hypothesis_control = lifecycle.hook("hypothesis", "after")
before_method_control = lifecycle.hook("method", "before")
after_method_control = lifecycle.hook("method", "after")
before_rollback_control = lifecycle.hook("rollback", "before")
after_rollback_control = lifecycle.hook("rollback", "after")
before_activity_control = lifecycle.hook("activity", "before")
after_activity_control = lifecycle.hook("activity", "after")
