"""OpenTelemetry, for a traced run: two jobs, one module each.

- :mod:`chaostracing._run.otel.bridge`: OpenTelemetry's API implemented on
  the run's own tracer (``Span``, ``Tracer``, ``TracerProvider``), the
  mirror that keeps OpenTelemetry's current span in step with ours, and
  ``enable()`` / ``disable()``;
- :mod:`chaostracing._run.otel.installation`: OpenTelemetry's
  instrumentations and propagators turned on for the run
  (``tracing_instrument``, ``tracing_propagation``), and the suppression
  that keeps one client span per request.

Imported only when OpenTelemetry is asked for (``tracing_instrument``, the
``otlp`` provider, or an extension importing ``opentelemetry.trace`` during
a traced run): the control's import time does not depend on it. This
package itself imports nothing.
"""
from typing import List

__all__: List[str] = []
