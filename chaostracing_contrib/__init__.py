"""Instrumentation of third-party libraries for chaostracing."""
