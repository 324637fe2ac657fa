"""The house drawn from the code: mnist_model's three packages, arrows one way, no import cycle."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "lab", "figures")
ALLOWED = {"lab": {"engine"}, "figures": {"lab", "engine"}, "engine": set()}  # who may import whom


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The mnist_model modules ``path`` imports, relative imports resolved."""
    module, found = _module(path), set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names = [f"{target}.{alias.name}" for alias in node.names]
            found |= {name for name in names if (ROOT / (name.replace(".", "/") + ".py")).exists()} or {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("mnist_model.")}


def _graph() -> dict[str, set[str]]:
    return {_module(p): _imports(p) for p in (ROOT / "mnist_model").rglob("*.py")}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in PACKAGES else None


def test_every_module_lives_in_a_package_by_job():
    loose = sorted(p.name for p in (ROOT / "mnist_model").glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "cli.py"], "the engine, the lab and the figures each have a package"


def test_arrows_run_one_way():
    wrong = [(module, target) for module, targets in _graph().items() for target in targets
             if _package(module) and _package(target) and _package(target) != _package(module)
             and _package(target) not in ALLOWED[_package(module)]]
    assert wrong == [], "the engine knows nothing of the lab or the figures, and the lab nothing of the figures"


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path, module, target]
            if target in graph and not state.get(target):
                cycle = visit(target, [*path, module])
                if cycle:
                    return cycle
        state[module] = 2
        return None

    first_cycle = next((c for m in sorted(graph) if not state.get(m) and (c := visit(m, []))), None)
    assert first_cycle is None, " -> ".join(first_cycle)


def test_model_file_checks_import_no_keras():
    """A hostile file is refused from its bytes alone: the checks must not pull TensorFlow in."""
    import subprocess
    import sys

    code = ("import sys, mnist_model.engine.model_files; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# The app's own layers, bottom up (mnist_model, classroom, server, ui, views): none imports one above it.
NEVER = {"mnist_model": {"classroom", "server", "ui", "views", "streamlit"},  # usable from a shell or notebook
         "classroom": {"server", "ui", "views", "streamlit"},
         "server": {"ui", "views"},  # the server's shared machinery: no widgets, no session glue
         "ui": {"views"}}


def _top_imports(path: Path) -> set[str]:
    """The top-level packages ``path`` imports (absolute imports only: relative ones stay in their package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found


def test_the_app_s_layers_import_downwards_only():
    wrong = sorted((str(path.relative_to(ROOT)), name)
                   for package, banned in NEVER.items() for path in (ROOT / package).rglob("*.py")
                   for name in _top_imports(path) & banned)
    assert wrong == [], "mnist_model and classroom know no Streamlit; server knows no widgets; ui knows no pages"


def test_the_server_s_shared_machinery_lives_in_server():
    ui_modules = {path.stem for path in (ROOT / "ui").glob("*.py")}
    assert not ui_modules & {"resources", "preparer", "training_job", "worker_process", "finetune_job", "live_run"}
