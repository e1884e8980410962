"""Package list for setuptools; everything else (metadata, dependencies, package data) is in pyproject.toml.

pyproject.toml alone cannot put a folder outside the package tree into the wheel: avsync's own trained
weights live in ``models/`` at the repository root and ship as the data-only package ``avsync._models``
(``avsync/_models/<name>/`` in the wheel). Every ``models/<name>/`` folder is included by the globs of
``[tool.setuptools.package-data]``; :mod:`avsync.bundles` finds them there.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(".", include=["avsync", "avsync.*"]),
        *find_namespace_packages("cli", include=["avsync_cli", "avsync_cli.*"]),
        "avsync._models",
    ],
    package_dir={"avsync_cli": "cli/avsync_cli", "avsync._models": "models"},
)
