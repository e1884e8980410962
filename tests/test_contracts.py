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


def _import_graph(root) -> dict[str, set[str]]:
    """Every ``avsync`` module → the ``avsync`` modules it imports anywhere (module level or inside functions)."""
    import ast

    mods = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(root.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph = {}
    for name, p in mods.items():
        deps = set()
        pkg = name if p.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                # `from pkg import submodule` depends on the submodule (as import-linter counts it), else on pkg
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs if len(subs) == len(node.names) else [base, *subs]
            else:
                continue
            deps |= {t for t in targets if t in mods and t != name}
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def test_no_import_cycles():
    """No module of avsync imports itself back through others, even inside functions (shared helpers live in
    leaf modules: ``face.geometry``, ``avsync._optional``, ``avsync._version``, ``avsync.model_files``; the sync
    task that needs the pipeline is ``avsync.sync.task``, outside the package namespace the pipeline imports)."""
    from pathlib import Path

    import avsync

    graph = _import_graph(Path(avsync.__file__).parent)
    assert {"avsync.face.tracking", "avsync.pipeline", "avsync.sync.task"} <= set(graph)
    assert "avsync.sync.analyze" in graph["avsync.pipeline"] or "avsync.sync" in graph["avsync.pipeline"]
    assert _cycles(graph) == []
    # the detector sees a cycle when there is one
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for d in graph.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


# layers of avsync, by top-level package/module name (avsync.<name>)
ANALYSES = {"media", "features", "face", "encoders", "spoof", "speaker", "vad", "artefacts", "sync"}
DECISION = {"fusion", "verdict", "report", "calibration"}
RUNNERS = {"pipeline", "sections", "batch", "evaluation", "training", "catalog"}
LEAVES = {"avsync.errors", "avsync.results", "avsync._optional", "avsync._version", "avsync.timebase", "avsync.cues",
          "avsync.face.geometry", "avsync.torch_ops"}


def _layer_violations(graph: dict[str, set[str]]) -> list[str]:
    top = lambda m: m.split(".")[1] if "." in m else ""  # noqa: E731
    out = []
    for m, deps in graph.items():
        reach = _reach(graph, m)
        if top(m) in ANALYSES and m != "avsync.sync.task":  # the sync eval task is a runner living in sync/
            out += [f"{m} -> {d} (an analysis reaches fusion/the runners)" for d in reach if top(d) in DECISION | RUNNERS]
        if top(m) in DECISION:
            out += [f"{m} -> {d} (fusion/report reach an analysis or a runner)" for d in reach
                    if top(d) in ANALYSES | RUNNERS]
        if top(m) != "training":
            out += [f"{m} -> {d} (inference imports a training recipe)" for d in deps if top(d) == "training"]
        if m in LEAVES:
            out += [f"{m} -> {d} (a leaf imports a non-leaf)" for d in deps if d not in LEAVES]
    return sorted(out)


def test_layers():
    """Analyses (media, faces, encoders, sync, spoof, speaker, artefacts) know nothing of fusion, verdicts, reports
    or the runners; fusion, verdicts and reports know nothing of the analyses; nothing outside training/ imports
    a training recipe; the leaf modules import only leaves; the library never imports click (the CLI is a layer
    above it)."""
    import ast
    from pathlib import Path

    import avsync

    root = Path(avsync.__file__).parent
    graph = _import_graph(root)
    assert _layer_violations(graph) == []
    assert _layer_violations({**graph, "avsync.fusion": graph["avsync.fusion"] | {"avsync.sync"}})  # it would see one
    clicks = []
    for p in root.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            clicks += [str(p) for n in names if n.split(".")[0] == "click"]
    assert clicks == []


def test_sync_models_are_one_table():
    """The CLI's sync-model choices, make_scorer and the catalog read one torch-free table
    (avsync.model_files.SYNC_MODEL_SPECS): every factory imports, every bundle is registered."""
    import importlib

    from avsync.bundles import REGISTRY
    from avsync.model_files import SYNC_MODEL_SPECS, SYNC_MODELS, sync_model_name
    from avsync.sync import models

    assert SYNC_MODELS == tuple(SYNC_MODEL_SPECS) and SYNC_MODELS[0] == models.DEFAULT_SYNC_MODEL
    for name, spec in SYNC_MODEL_SPECS.items():
        module, _, function = spec.factory.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), name
        assert spec.bundle is None or spec.bundle in REGISTRY, name
        assert sync_model_name(name) == (spec.bundle or name)
    assert (SYNC_MODEL_SPECS["syncnet"].bundle, SYNC_MODEL_SPECS["syncnet-grid"].bundle,
            SYNC_MODEL_SPECS["light-asd"].bundle) == (models.SYNCNET_BUNDLE, models.SYNCNET_GRID_BUNDLE,
                                                      models.LIGHT_ASD_BUNDLE)


def _ruff_command() -> list[str] | None:
    """How to run the ruff of this environment: ``python -m ruff``, else a ``ruff`` next to the interpreter."""
    import importlib.util
    import os
    import shutil

    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff", path=os.path.dirname(sys.executable))
    return [exe] if exe else None


def test_ruff_lint_contract():
    """``ruff check avsync cli`` passes with the rule selection of pyproject's ``[tool.ruff.lint]`` (run in CI), and
    that selection keeps the public-return-annotation rule and the argument-annotation rules (``*args``, ``**kwargs``
    included), so the contract cannot be emptied quietly."""
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        tomllib = pytest.importorskip("tomli")
    root = Path(__file__).resolve().parents[1]
    lint = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert {"ANN001", "ANN002", "ANN003", "ANN201", "F", "B", "I"} <= set(lint["select"]), lint["select"]
    cmd = _ruff_command()
    if cmd is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    r = subprocess.run([*cmd, "check", "avsync", "cli"], cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"ruff check avsync cli found problems:\n{r.stdout}{r.stderr}"


def _mypy_command() -> list[str] | None:
    """How to run the mypy of this environment: ``python -m mypy``, else a ``mypy`` next to the interpreter."""
    import importlib.util
    import os
    import shutil

    if importlib.util.find_spec("mypy") is not None:
        return [sys.executable, "-m", "mypy"]
    exe = shutil.which("mypy", path=os.path.dirname(sys.executable))
    return [exe] if exe else None


def test_mypy_contract() -> None:
    """``python -m mypy`` (from the repository root, configured by pyproject's ``[tool.mypy]``: the ``avsync``
    package) finds no type error (run in CI); the configuration keeps checking avsync, so the contract cannot be
    emptied quietly: no avsync module is exempted, and missing imports are ignored only for third-party ones."""
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        tomllib = pytest.importorskip("tomli")
    root = Path(__file__).resolve().parents[1]
    cfg = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["mypy"]
    assert "avsync" in cfg.get("packages", []) + cfg.get("files", []), cfg
    assert cfg.get("warn_unused_ignores") is True and not cfg.get("ignore_errors") and not cfg.get("ignore_missing_imports")
    for o in cfg.get("overrides", []):
        mods = [o["module"]] if isinstance(o["module"], str) else o["module"]
        assert not any(m.split(".")[0] == "avsync" for m in mods) and not o.get("ignore_errors"), o
    cmd = _mypy_command()
    if cmd is None:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"mypy found problems:\n{r.stdout}{r.stderr}"
