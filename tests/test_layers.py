"""The house's floors, checked on every import of every module (no module is executed).

Layers, bottom to top (a library module imports its own layer and those below, never a
binary):
  errors           expected failures and the binaries' wrapper (imports no layer)
  pipelines        data on disk -> tf.data        } independent of each other
  slim_weights     TF-Slim checkpoints            }
  transfusion_tf   models, surgery, training, evaluation (not its studies/)
  analysis         representation analyses, figures from saved results
  transfusion_tf.studies  the paper's grids, their aggregation and report

Binaries (`BINARIES`, listed once for every test that needs them) are leaves: they may
import any layer, nothing imports them, and they alone read flags. `ALIASES` are kept
command names that run another binary. The same pass checks the size rules: no module over
400 lines, no function over 80 lines outside config files, no `isinstance` on split or
record types outside `pipelines`, and no citation of a spec the repository does not ship.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("errors", "pipelines", "slim_weights", "transfusion_tf", "analysis", "benchmarks")

# (layer name, module prefixes), bottom to top; layers of one rank are independent.
LAYERS = (
    ("errors", 0, ("errors",)),
    ("pipelines", 1, ("pipelines",)),
    ("slim_weights", 1, ("slim_weights",)),
    ("transfusion_tf", 2, ("transfusion_tf",)),
    ("analysis", 3, ("analysis",)),
    ("studies", 4, ("transfusion_tf.studies",)),
)

# Every binary, once: `python -m <module>`.
BINARIES = (
    "transfusion_tf.train",
    "transfusion_tf.evaluate",
    "transfusion_tf.study",
    "transfusion_tf.register_weights",
    "transfusion_tf.convert_checkpoint",
    "transfusion_tf.predict",
    "transfusion_tf.export",
    "pipelines.inspect",
    "pipelines.convert",
    "pipelines.generate",
    "pipelines.generate_source",
    "slim_weights.download",
    "slim_weights.make_inventory",
    "analysis.run_analysis",
    "analysis.plot_cca",
    "analysis.plot_convergence",
    "analysis.plot_filters",
)
# Documented command names kept after a binary moved: alias -> the binary it runs.
ALIASES = {"slim_weights.convert": "transfusion_tf.convert_checkpoint"}
SCRIPTS = ("benchmarks",)  # Benchmark scripts are binaries too (leaves with flags).
FLAG_MODULES = ("absl.flags", "ml_collections.config_flags")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
SPLIT_TYPES = ("Split", "FileSplit", "RecordSplit", "RecordDataset", "LoadedDataset")


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> tuple[str, int] | None:
    """The (name, rank) of the most specific layer holding `module`."""
    best = None
    for name, rank, prefixes in LAYERS:
        for prefix in prefixes:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > best[2]):
                best = (name, rank, len(prefix))
    return best[:2] if best else None


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute import; `from a import b` gives a.b and a."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def is_binary(module: str) -> bool:
    return module in BINARIES or module in ALIASES or module.split(".")[0] in SCRIPTS


def import_violations(module: str, tree: ast.AST) -> list[str]:
    """What `module`'s imports break: a higher layer, an independent one, or a binary."""
    problems = []
    own = layer_of(module)
    for line, target in imported_modules(tree):
        if target in BINARIES or target in ALIASES:
            problems.append(f"{module}:{line} imports the binary {target}")
            continue
        theirs = layer_of(target)
        if is_binary(module) or own is None or theirs is None or theirs[0] == own[0]:
            continue
        if theirs[1] >= own[1]:
            problems.append(f"{module}:{line} ({own[0]}) imports {target} ({theirs[0]})")
    return problems


def flag_uses(tree: ast.AST) -> list[str]:
    """Flag imports and DEFINE_* calls, by line."""
    uses = [
        f"line {line}: import {target}"
        for line, target in imported_modules(tree)
        if any(target == f or target.startswith(f + ".") for f in FLAG_MODULES)
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name.startswith("DEFINE_"):
                uses.append(f"line {node.lineno}: {name}")
    return uses


def main_block_calls(tree: ast.Module) -> list[str]:
    calls = []
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            calls += [ast.unparse(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)]
    return calls


def _modules():
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            yield path, module_name(path), ast.parse(path.read_text())


MODULES = list(_modules())


def test_no_module_imports_upward_or_a_binary():
    problems = [p for _, module, tree in MODULES for p in import_violations(module, tree)]
    assert problems == []


def test_the_layer_check_sees_an_upward_import_and_a_binary():
    upward = ast.parse("from transfusion_tf import models\nimport analysis.cca\n")
    assert import_violations("pipelines.readers.tables", upward) == [
        "pipelines.readers.tables:1 (pipelines) imports transfusion_tf (transfusion_tf)",
        "pipelines.readers.tables:1 (pipelines) imports transfusion_tf.models (transfusion_tf)",
        "pipelines.readers.tables:2 (pipelines) imports analysis.cca (analysis)",
    ]
    sideways = ast.parse("from slim_weights import manifest\n")
    assert import_violations("pipelines.datasets", sideways)[0].endswith("(slim_weights)")
    binary = ast.parse("from transfusion_tf import train\n")
    assert import_violations("transfusion_tf.studies.report", binary)[0].endswith(
        "imports the binary transfusion_tf.train"
    )
    assert import_violations("transfusion_tf.study", upward) == []  # A leaf imports any layer.
    assert import_violations("analysis.capture", ast.parse("from pipelines import split\n")) == []


def test_binaries_are_listed_once_exist_and_run_through_the_errors_wrapper():
    with_main = {
        module
        for _, module, tree in MODULES
        if main_block_calls(tree) and module.split(".")[0] not in SCRIPTS
    }
    assert with_main == set(BINARIES) | set(ALIASES)
    assert len(set(BINARIES)) == len(BINARIES)
    trees = {module: tree for _, module, tree in MODULES}
    for module in BINARIES:
        calls = main_block_calls(trees[module])
        assert "errors.run" in calls and "app.run" not in calls, module
    for alias, target in ALIASES.items():
        assert target in BINARIES and f"'{target}'" in ast.unparse(trees[alias]), alias


# The binaries' wrapper turns absl's flag errors into one line: it imports absl.flags for
# their types, and defines and reads no flag.
FLAG_TYPES_ONLY = ("errors",)


def test_flags_only_in_binaries():
    readers = {
        module: flag_uses(tree)
        for _, module, tree in MODULES
        if not is_binary(module) and module not in FLAG_TYPES_ONLY
    }
    assert {m: uses for m, uses in readers.items() if uses} == {}
    trees = {module: tree for _, module, tree in MODULES}
    assert all(flag_uses(trees[b]) for b in BINARIES)  # The check sees flags where they are.
    source = (
        "from absl import flags\nflags.DEFINE_string('x', '', '')\nDEFINE_integer('y', 0, '')\n"
    )
    assert [u.split(":")[0] for u in flag_uses(ast.parse(source))] == [
        "line 1",
        "line 2",
        "line 3",
    ]


def test_modules_and_functions_stay_small():
    long_modules = {
        module: len(path.read_text().splitlines())
        for path, module, _ in MODULES
        if len(path.read_text().splitlines()) > MAX_MODULE_LINES
    }
    assert long_modules == {}
    long_functions = [
        f"{module}.{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, module, tree in MODULES
        if ".configs." not in f".{module}."
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long_functions == []


def test_split_types_are_not_asked_for_outside_pipelines():
    asked = [
        f"{module}:{node.lineno}"
        for _, module, tree in MODULES
        if not module.startswith("pipelines")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "isinstance"
        and any(name in ast.unparse(node.args[1]) for name in SPLIT_TYPES)
    ]
    assert asked == []


# The name of the brief this repository was built from, which it does not ship; spelled in two
# parts so that this file does not cite it either.
UNSHIPPED_DOCUMENT = "SP" + "EC"


@pytest.mark.parametrize("suffix", [".py", ".md"])
def test_no_citation_of_a_spec_the_repository_does_not_ship(suffix):
    paths = [p for package in PACKAGES for p in (REPO / package).rglob(f"*{suffix}")]
    paths += [p for p in REPO.glob(f"*{suffix}")] + list((REPO / "docs").rglob(f"*{suffix}"))
    word = re.compile(r"\b" + UNSHIPPED_DOCUMENT + r"\b")
    citing = [str(p.relative_to(REPO)) for p in paths if word.search(p.read_text())]
    assert citing == []
