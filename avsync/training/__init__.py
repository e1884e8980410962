"""Training recipes (sync, spoof). Never imported by inference code."""
