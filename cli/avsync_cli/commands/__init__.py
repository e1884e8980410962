"""One module per ``avsync`` sub-command; each exposes a click command named ``command``."""
