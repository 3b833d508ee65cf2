"""What every part reads and writes: the span model, its vocabulary, the
file formats (Jaeger JSON, OTLP JSON, Chaos Toolkit journals) and the rules
shared by the viewers, the collector and the probes (which spans a search
matches, what "failed" means, a trace's summary, the edges between
services).

Internal, and a leaf: it imports nothing else of chaostracing.
"""
