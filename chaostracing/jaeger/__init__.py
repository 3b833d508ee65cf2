"""Jaeger on the wire: our tracer, trace headers, Thrift, UDP sender and
receiver.

Imports go one way inside this package::

    spancontext ◀── propagation ◀── tracer
    model (chaostracing) ◀── thrift ◀── sender
                         ◀── decode ◀── agent

None of it imports jaeger-client (whose import costs more than a traced
run may add) or the ``thrift`` library.
"""
