"""The ``avsync`` command line: a thin click layer over the public :mod:`avsync` API."""
