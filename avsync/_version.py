"""The avsync version (one place; ``avsync.__version__`` and the provenance of every result read it)."""

__version__ = "0.1.0"
