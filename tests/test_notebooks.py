"""The notebooks run top to bottom with the public API (executed in a temporary folder)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook tests need nbformat/nbclient/ipykernel (dev extra)")
nbclient = pytest.importorskip("nbclient", reason="notebook tests need nbclient (dev extra)")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_quickstart.ipynb", "02_calibration_and_evaluation.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if path.name.startswith("01"):
        assert (tmp_path / "quickstart_report.html").exists()
        text = "".join(o.get("text", "") for o in outputs)
        assert "manipulated" in text and "audio leads video by" in text
    else:
        assert (tmp_path / "fusion_calibrated.yaml").exists()
