"""``chaostracing show`` (the terminal waterfall) and ``chaostracing
report`` (one self-contained HTML page). Internal: the entry point is
:mod:`chaostracing.cli`."""
