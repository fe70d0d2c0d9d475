"""The shape of the package (ARCHITECTURE.md): three tiers that import downwards only, no import cycle, no
private names used across modules, alpha_init read in one function, small files and functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "dyt"
TIERS = {"dyt.nn": 0, "dyt.run": 1, "dyt.reports": 2, "dyt.bench": 2, "dyt.diagnose": 2}  # a tier imports only from its own tier and those below
MAX_FILE_LINES, MAX_FUNCTION_LINES = 300, 60


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The dyt modules ``path`` imports anywhere (module level, inside functions, and for type hints only under
    ``TYPE_CHECKING``: a pair of modules that need each other's names is a cycle of ideas either way)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, name, set(mods)) - {name} for name, path in mods.items()}


def tier(module: str) -> int | None:
    return next((t for prefix, t in TIERS.items() if module == prefix or module.startswith(prefix + ".")), None)


def test_the_module_import_graph_has_no_cycle():
    g = graph()
    # a package importing its own submodules (re-exports) is not a cycle of ideas: drop parent -> child edges
    edges = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in g.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in edges.get(node, ()):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for module in edges:
        if module not in state:
            visit(module, [module])


def test_tiers_import_downwards_only():
    bad = [f"{m} -> {d}" for m, deps in graph().items() for d in deps
           if tier(m) is not None and tier(d) is not None and tier(d) > tier(m)]
    assert not bad, bad


def test_no_private_name_is_imported_from_another_module():
    bad = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dyt"):
                bad += [f"{name}: from {node.module} import {a.name}" for a in node.names if a.name.startswith("_")]
    assert not bad, bad


def test_files_and_functions_stay_small():
    long_files = [f"{p.relative_to(REPO)}: {n}" for p in modules().values()
                  if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES]
    long_functions = [f"{p.relative_to(REPO)}:{node.name}: {node.end_lineno - node.lineno + 1}"
                      for p in modules().values() for node in ast.walk(ast.parse(p.read_text()))
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long_files and not long_functions, (long_files, long_functions)


def _mentions_alpha_init(node: ast.AST) -> bool:
    return any((isinstance(n, ast.Attribute) and n.attr == "alpha_init") or
               (isinstance(n, ast.Constant) and n.value == "alpha_init") for n in ast.walk(node))


def test_alpha_init_is_read_in_one_function():
    """Outside ``dyt.run.alpha`` (and the layer library, which takes numbers), nothing converts or slices the
    text of an alpha init: everything downstream gets the parsed ``AlphaInit``."""
    bad = []
    for name, path in modules().items():
        if name == "dyt.run.alpha" or name.startswith("dyt.nn"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            converts = isinstance(func, ast.Name) and func.id in ("float", "str", "int")
            slices = isinstance(func, ast.Attribute) and func.attr in ("startswith", "partition", "split", "strip")
            if converts and any(_mentions_alpha_init(a) for a in node.args):
                bad.append(f"{name}:{node.lineno}")
            elif slices and _mentions_alpha_init(func.value):
                bad.append(f"{name}:{node.lineno}")
    assert not bad, bad


def test_build_results_are_returned_not_attached_to_the_model():
    bad = [f"{p.relative_to(REPO)}" for p in modules().values()
           for needle in ("getattr(model", "model.resolved", "model.alpha_note", "model.calibration")
           if needle in p.read_text()]
    assert not bad, bad


def test_the_layer_library_imports_without_hydra_or_run_dirs():
    code = ("import sys; from dyt import DyT, DyT2d, convert_norms, count_norms; import dyt.nn;"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf', 'datasets')"
            " or m.startswith(('dyt.run', 'dyt.reports'))]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("module", ["dyt.run.alpha", "dyt.run.identity"])
def test_the_config_layer_resolvers_need_no_torch(module):
    """The resolvers Hydra calls while composing (alpha_tag, run_suffix) import no training-time code."""
    code = f"import sys, {module}; bad = [m for m in ('torch', 'dyt.nn') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_reports_only_read_what_runs_leave_behind():
    """dyt.reports imports no trainer, builder, optimizer, data pipeline or tool that trains (dyt.bench,
    dyt.diagnose): a model comes back only through ``dyt.run.load_trained``."""
    training = ("dyt.run.trainer", "dyt.run.builders", "dyt.run.optim", "dyt.run.data", "dyt.run.job",
                "dyt.run.calibrate", "dyt.run.spec", "dyt.bench", "dyt.diagnose")
    allowed = ("dyt.run.data.chance",)  # the chance-level rule, pure arithmetic on summaries
    bad = [f"{m} -> {d}" for m, deps in graph().items() if m.startswith("dyt.reports") for d in deps
           if d.startswith(training) and not d.startswith(allowed)]
    assert not bad, bad
