"""What did the fault touch? A run's impact, read from the system's spans.

One module per step:

- :mod:`~chaostracing._impact.windows`: the run's windows (baseline,
  during, after, recovery), from its own trace, the control's clock or the
  journal;
- :mod:`~chaostracing._impact.source`: every span of those windows, from a
  Jaeger query API (through :mod:`chaostracing._probes.fetch`), and the
  bounded wait for late spans;
- :mod:`~chaostracing._impact.units`: the units compared (services,
  operations, edges between services) and their figures in each window;
- :mod:`~chaostracing._impact.verdicts`: the tests (scipy, the ``[impact]``
  extra) and the thresholds;
- :mod:`~chaostracing._impact.analysis`: the verdicts, the blast radius,
  the likely origin, the recovery, and the JSON schema;
- :mod:`~chaostracing._impact.text` and :mod:`~chaostracing._impact.graph`:
  the table, the summary line, the report's service graph;
- :mod:`~chaostracing._impact.endofrun`: the control's end-of-run impact
  (``tracing_impact``) and the ``blast_radius`` probe.

Internal: ``chaostracing impact`` (:mod:`chaostracing.cli`), the control
and :func:`chaostracing.probes.blast_radius` are the ways in.
"""
from typing import List

__all__: List[str] = []
