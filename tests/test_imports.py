"""The project's modules (``fer/``, ``train/``, ``space/``): each imports on its own, and none imports one
that imports it back.

A circle (a imports b, b imports a, directly or through others) makes import order matter: whichever is
imported first sees the other half-initialised. The import graph is read from the source with ``ast``,
module-level and function-level imports alike, so a circle hidden in a function body is found too.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGES = ("fer", "train", "space")
# Third-party packages that only one group of modules needs (requirements-batch.txt, requirements-train.txt):
# a module that fails for want of one is skipped with the reason, any other failure is a failure.
OPTIONAL = {"pyarrow": "requirements-batch.txt", "ray": "requirements-batch.txt",
            "keras": "requirements-train.txt", "tensorflow": "requirements-train.txt",
            "yaml": "requirements-train.txt", "tensorboard": "requirements-train.txt"}


def module_files() -> dict[str, Path]:
    """Dotted name -> source file, for every module of the packages (a package is its ``__init__``)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = module_files()


# --- each module on its own -----------------------------------------------------------------------

# Runs in a subprocess. Importing TensorFlow takes seconds, so the third-party libraries are imported
# once and each project module is then imported in a fork of that process: a fresh interpreter as
# far as the project goes (no module of fer/ or train/ is loaded before the one under test).
IMPORT_EACH = """
import importlib, json, os, sys, traceback
for lib in ("numpy", "cv2", "PIL.Image", "yaml", "pyarrow", "huggingface_hub", "matplotlib.pyplot", "keras"):
    try:
        importlib.import_module(lib)
    except ImportError:
        pass
packages = {name.split(".")[0] for name in sys.argv[1:]}
assert not [m for m in sys.modules if m.split(".")[0] in packages], "a library imported a project module"
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        record = {"module": name}
        try:
            importlib.import_module(name)
        except BaseException as err:
            record["error"] = traceback.format_exc(limit=-3)
            record["missing"] = getattr(err, "name", None) if isinstance(err, ModuleNotFoundError) else None
        print(json.dumps(record), flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
"""


@pytest.fixture(scope="module")
def imported_alone() -> dict[str, dict]:
    proc = subprocess.run([sys.executable, "-c", IMPORT_EACH, *MODULES], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["module"]: r for r in records}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_on_its_own(module, imported_alone):
    record = imported_alone.get(module)
    assert record is not None, f"{module}: the child process died while importing it"
    missing = (record.get("missing") or "").split(".")[0]
    if missing in OPTIONAL:
        pytest.skip(f"{module} needs {missing} ({OPTIONAL[missing]}), which is not installed")
    assert "error" not in record, f"{module} does not import on its own:\n{record['error']}"


# --- no circles -----------------------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names one import statement loads (``from fer import draw`` loads ``fer.draw``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolved against this module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]


def imports_of(module: str) -> set[str]:
    """The project modules ``module`` imports anywhere in its source, except under ``if TYPE_CHECKING:``
    (annotations only: never run)."""
    path = MODULES[module]
    found: set[str] = set()
    stack: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack += node.orelse
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in _imported_names(node, module, path.name == "__init__.py"):
                while name and name not in MODULES:  # `import fer.x.y` where y is a name in fer.x
                    name = name.rpartition(".")[0]
                if name and name != module:
                    found.add(name)
        stack += ast.iter_child_nodes(node)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per back edge of a depth-first walk, as ``[a, b, ..., a]``; empty when there is none."""
    cycles, state, path = [], {}, []  # state: 1 on the current path, 2 finished

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_the_import_graph_sees_imports_at_any_level():
    graph = {m: imports_of(m) for m in MODULES}
    assert "fer.results" in graph["fer.predictor"]  # at the top of the module
    assert "fer.gradcam" in graph["fer.predictor"]  # inside a method
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_module_imports_one_that_imports_it_back():
    graph = {m: imports_of(m) for m in MODULES}
    cycles = import_cycles(graph)
    assert not cycles, "import circles:\n" + "\n".join("  " + " -> ".join(c) for c in cycles)
