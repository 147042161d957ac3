"""The package's layout holds: every import runs down the pipeline, no module imports itself back
through others, and no module grows past a screenful of screens."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "voca_cn"
# stage -> the stages it may import (the root package, for VocaError, is open to all)
ALLOWED = {
    "core": set(),
    "audio": {"core"},
    "speech": {"core", "audio"},
    "motion": {"core", "audio", "speech"},
    "face": {"core"},
    "render": {"core", "face"},
    "formats": {"core", "face", "render"},
    "video": {"core", "audio", "face", "formats"},
    "rig": {"core", "face", "render", "formats", "video"},
    "api": {"core", "audio", "speech", "motion", "face", "render", "formats", "rig"},
}
ALLOWED["training"] = set(ALLOWED) | {"video"}
ALLOWED["apps"] = ALLOWED["training"] | {"training"}
ALLOWED["__main__"] = {"apps"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, name: str, modules: dict) -> set[str]:
    """Our modules that ``name`` imports anywhere in its file (top level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found |= {t for t in targets if t.startswith("voca_cn.") and t in modules}
    return found - {name}


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def test_imports_run_only_down_the_pipeline():
    upward = [f"{m} imports {t}" for m, targets in _graph().items() for t in sorted(targets)
              if _stage(m) and _stage(t) and _stage(t) != _stage(m) and _stage(t) not in ALLOWED[_stage(m)]]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_no_import_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(m, stack):
        state[m] = "open"
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "open":
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_is_huge():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 560}
    assert not long, f"modules over 560 lines (split them by concern): {long}"


def test_training_code_stays_out_of_the_run_time():
    """Keras/TensorFlow only under training/: a user's animate never needs them."""
    heavy = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if p.parent.name != "training"
             and any(isinstance(n, (ast.Import, ast.ImportFrom)) and any(
                 (getattr(n, "module", None) or a.name).split(".")[0] in ("keras", "tensorflow")
                 for a in n.names) for n in ast.walk(ast.parse(p.read_text())))]
    assert not heavy, f"run-time modules importing Keras/TensorFlow: {heavy}"
