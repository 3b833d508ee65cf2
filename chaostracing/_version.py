"""The version of chaostoolkit-opentracing (read by setup.py)."""
__version__ = "1.0.0"
