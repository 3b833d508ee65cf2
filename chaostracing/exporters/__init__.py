"""Exporters: turn finished spans into what a back-end receives."""
