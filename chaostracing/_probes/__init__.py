"""The machinery behind :mod:`chaostracing.probes`, one module per step.

- :mod:`~chaostracing._probes.arguments`: the activities' arguments
  checked, each bad one named in the activity's failure, and where the
  query goes (``query_url``, else the setting ``tracing_query_url``);
- :mod:`~chaostracing._probes.query`: the Jaeger query made of them;
- :mod:`~chaostracing._probes.fetch`: the HTTP fetch of a Jaeger query
  API, and its answer read as spans;
- :mod:`~chaostracing._probes.counting`: the matching spans among them
  (:mod:`chaostracing._data.spanquery`), and the figures.

Internal: ``chaostracing.probes`` holds the activities themselves, whose
signatures and docstrings are what ``chaos discover`` shows.
"""
from typing import List

__all__: List[str] = []
