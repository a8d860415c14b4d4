"""The reconcile engine: canonical model, extract, and (to come) matching and master records."""

__version__ = "0.1.0"
