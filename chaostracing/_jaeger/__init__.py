"""Jaeger's Thrift wire format, both directions: spans and processes
encoded into ``Agent.emitBatch`` datagrams (:mod:`.thrift`) and datagrams
decoded back into spans (:mod:`.decode`).

Neither imports jaeger-client (whose import costs more than a traced run
may add: ``benchmarks/import_cost.py``) nor the ``thrift`` library; both
are checked against Apache Thrift in the tests, both ways. Internal.
"""
