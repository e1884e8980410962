"""Package-wide contracts: what importing avsync costs, and how configuration errors are typed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from avsync import AvsyncError, ConfigError, Status


def test_import_avsync_does_not_import_torch_or_opencv():
    # `import avsync` (CLI start-up, a notebook's first cell) stays light: the heavy libraries load with the
    # analysis that needs them
    code = "import sys, avsync; print(sorted(m for m in ('torch', 'cv2', 'scipy') if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout


def test_config_error_is_a_value_error_with_a_status():
    with pytest.raises(ValueError):
        raise ConfigError("bad threshold")
    e = ConfigError("bad threshold")
    assert isinstance(e, AvsyncError) and e.status is Status.CONFIG_ERROR
