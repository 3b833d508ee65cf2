"""What runs inside ``chaos run``: the run's spans, the current span, our
OpenTracing tracer and its propagation, the settings, the safety net,
redaction, the export pipeline and the providers, and the bridge to
OpenTelemetry's API and instrumentations.

Internal: the public entry points are :mod:`chaostracing`,
:mod:`chaostracing.control`, :mod:`chaostracing.oltp` and
:mod:`chaostracing.testing`.
"""
