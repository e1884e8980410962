"""Training recipes (never imported by inference code)."""
