"""A hidden ``chaos`` command, there to be loaded when ``chaos`` starts.

chaostoolkit loads every ``chaostoolkit.cli_plugins`` entry point as its
``chaos`` command starts, before it reads an experiment: it is the one
plugin hook it has (chaoslib has none). Loading this module imports
:mod:`chaostracing` (its package), which makes OpenTracing's default tracer
a :class:`~chaostracing._run.context.DefaultTracer`. That must come before
chaoslib imports the extensions: ``chaos run`` and ``chaos validate`` import
every activity's module while validating, before the control's. So an
extension that reads ``opentracing.tracer.activity_span`` when it is
imported (``None`` then), or keeps ``opentracing.tracer`` in a module
variable, works, whatever the order of imports.

The command does nothing else and ``chaos --help`` does not list it. What it
adds to ``chaos``'s start is measured in ``benchmarks/import_cost.py``.
"""
import click

from chaostracing._run.context import install_noop_proxy

__all__ = ["command"]

install_noop_proxy()  # done by the package already; said here for the reader


@click.command("chaostracing", hidden=True, help=(
    "Loaded for chaostoolkit-opentracing; its own command is `chaostracing`."))
def command() -> None:
    """Say where chaostracing's own command is."""
    click.echo("chaostracing's commands are those of `chaostracing` (see "
               "`chaostracing --help`); this one only loads it early.")
