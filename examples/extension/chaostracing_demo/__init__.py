"""Example probes and actions for the chaostracing experiments."""
