"""An independent decoder: the thrift library with jaeger-client's types.

Used to check our encoder and our decoder against Apache Thrift's own code.
"""


def decode_with_thrift(data: bytes):
    from jaeger_client.thrift_gen.agent import Agent
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    from thrift.transport import TTransport

    factory = (TCompactProtocol.TCompactProtocol if data[:1] == b"\x82"
               else TBinaryProtocol.TBinaryProtocol)
    protocol = factory(TTransport.TMemoryBuffer(data))
    name, _, _ = protocol.readMessageBegin()
    assert name == "emitBatch"
    args = Agent.emitBatch_args()
    args.read(protocol)
    return args.batch


def encode_with_thrift(batch, binary=False) -> bytes:
    from jaeger_client.thrift_gen.agent import Agent
    from thrift.protocol import TBinaryProtocol, TCompactProtocol
    from thrift.Thrift import TMessageType
    from thrift.transport import TTransport

    buffer = TTransport.TMemoryBuffer()
    factory = (TBinaryProtocol.TBinaryProtocol if binary
               else TCompactProtocol.TCompactProtocol)
    protocol = factory(buffer)
    protocol.writeMessageBegin("emitBatch", TMessageType.ONEWAY, 7)
    Agent.emitBatch_args(batch=batch).write(protocol)
    protocol.writeMessageEnd()
    return buffer.getvalue()
