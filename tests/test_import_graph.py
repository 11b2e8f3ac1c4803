"""The import graph of InstaVis's own modules keeps DESIGN.md's rules.

What is read. Every first-party `.py` file: `app.py`, `data_folder.py` and the packages
`demos`, `models`, `explain`, `store`, `weights` and `benchmarks` (tests are not). Each file is
parsed with `ast`, and every `import` and `from ... import` anywhere in it counts: at the top, in
a function (a lazy import), in a class or under `if`/`try`. An import names the first-party
module it loads: `import a.b.c` and `from a.b import c` name `a.b.c` when that is a module (a
file or a package), else the nearest enclosing module (`from models.aesthetic import rate` names
the package `models.aesthetic`); relative imports are resolved first, and third-party imports
name nothing. Loading `a.b.c` also runs the packages `a` and `a.b` first, but those are not
counted: Python initialises a package before its submodules, so a submodule that does not ask
for its package's names does not depend on them. Four registries import modules by name with
importlib, and their names count as imports of the module holding them: `demos.TAB_MODULES`
(the tabs, from `demos`), `models.tags._EXPORTS` (the lazy exports, from `models.tags`) and
`models.train.TASKS` and `models.evaluate.TASKS` (the commands' task modules).

The rules.

(a) No import circle among first-party modules: the graph has no cycle.

(b) `explain/`, `weights/` and `store/` import nothing first-party outside their own package,
    except `store -> data_folder` (the data folder's own home); `data_folder` imports nothing
    first-party.

(c) `models/` never imports `store/`, `demos/`, `app` or Gradio (`gradio`, `gradio_client`).

(d) No product module is a training module.

    Training modules are
    - `models.train` and `models.evaluate` (the registries behind the two commands);
    - every module of `models/` whose own name is `train`, `evaluate` or `calibrate`, or starts
      with `train_` or `evaluate_` (`models.pose.train`, `models.aesthetic.train_quality`,
      `models.style.calibrate`, ...; not `models.style.trained`, the trained classifier the
      product loads);
    - the modules that read, build or score training and evaluation data, listed in
      TRAINING_DATA below (the datasets and pair builders, MIRFLICKR-25K's reader, the Tags
      bottleneck cache, the quality CNN's full-reference targets).

    `models.aesthetic.distortions` is one of them: the quality CNN trains on distorted copies.
    The rating's calibration set is made of such copies too, so they are made once by
    `models.aesthetic.make_calibration_copies` (a tool, listed below) and shipped as files that
    the product reads.

    Product modules are every module reachable, along the imports above, from the roots
    (`product_roots()`): `app`, each tab (`demos.TAB_MODULES`) and each task's entry (the
    package whose `__init__` exports it; for Tags, the modules its lazy exports name).
    Command-line entry points (`__main__` modules) and `benchmarks/` are tools: only rule (a)
    applies to them.

A failure names the import (file and line) or the chain of imports that breaks the rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TOP_MODULES = ("app", "data_folder")
PACKAGES = ("demos", "models", "explain", "store", "weights", "benchmarks")

LAYERS = ("explain", "weights", "store")
"""Packages that import nothing first-party but themselves (rule b)."""

LAYER_EXCEPTIONS = {("store", "data_folder")}
"""(package, module) imports allowed across rule (b)."""

MODELS_MUST_NOT_IMPORT = ("store", "demos", "app")
"""First-party packages and modules `models/` never imports (rule c)."""

GRADIO = ("gradio", "gradio_client")

TRAINING_DATA = (
    "models.aesthetic.fr_metrics",  # the quality CNN's full-reference training targets
    "models.aesthetic.distortions",  # the nine defects the quality CNN trains on
    "models.aesthetic.make_calibration_copies",  # writes the calibration set's spoiled copies
    "models.pose.pairs",  # the Siamese network's pair dataset
    "models.style.dataset",  # the style folders' scan, split and report
    "models.tags.mirflickr",  # MIRFLICKR-25K's reader
    "models.tags.cache",  # the bottleneck cache the tag head trains on
    "models.tags.decoding",  # ... its decoding
    "models.tags.ray_cache",  # ... and its Ray path
    "models.saved_split",  # what the evaluators that score a saved test split again share
)
"""Modules that read, build or score training and evaluation data (rule d)."""

TASK_ENTRIES = ("models.aesthetic", "models.pose", "models.style", "models.tags",
                "models.profile")
"""Each task package; its `__init__` exports the task's entry function."""


@dataclass(frozen=True)
class Import:
    """One import statement's first-party target, and where it is."""

    target: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.target}"


def module_files() -> dict[str, Path]:
    """Every first-party module name -> its file."""
    files = {name: ROOT / f"{name}.py" for name in TOP_MODULES}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def _is_package(name: str, files: dict[str, Path]) -> bool:
    return files[name].name == "__init__.py"


def _nearest_module(dotted: str, files: dict[str, Path]) -> str | None:
    while dotted and dotted not in files:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def _imports_of(name: str, files: dict[str, Path]) -> tuple[list[Import], list[Import]]:
    """(first-party imports, third-party imports by their full dotted name) of one module."""
    path = files[name]
    package = name if _is_package(name, files) else name.rpartition(".")[0]
    first_party, third_party = [], []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            candidates = [(alias.name, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            candidates = [(f"{base}.{alias.name}", base) for alias in node.names]
        else:
            continue
        for full, fallback in candidates:
            target = full if full in files else _nearest_module(fallback, files)
            if target is None:
                third_party.append(Import(full, path, node.lineno))
            elif target != name:
                first_party.append(Import(target, path, node.lineno))
    return first_party, third_party


def _registry_imports(files: dict[str, Path]) -> dict[str, list[Import]]:
    """The modules the registries import by name, as imports of the registry's module."""
    import demos
    import models.evaluate
    import models.tags
    import models.train

    registries = {
        "demos": [f"demos.{tab}" for tab in demos.TAB_MODULES],
        "models.tags": sorted(set(models.tags._EXPORTS.values())),
        "models.train": sorted(models.train.TASKS.values()),
        "models.evaluate": sorted(models.evaluate.TASKS.values()),
    }
    found = {}
    for holder, targets in registries.items():
        missing = [target for target in targets if target not in files]
        assert not missing, f"{holder} names modules that do not exist: {missing}"
        found[holder] = [Import(target, files[holder], 0) for target in targets]
    return found


@cache
def graph() -> tuple[dict[str, Path], dict[str, list[Import]], dict[str, list[Import]]]:
    """(module files, first-party imports of each module, third-party imports of each)."""
    files = module_files()
    first_party, third_party = {}, {}
    for name in files:
        first_party[name], third_party[name] = _imports_of(name, files)
    for holder, imports in _registry_imports(files).items():
        first_party[holder] += imports
    return files, first_party, third_party


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def top(name: str) -> str:
    return name.split(".")[0]


def is_training(name: str) -> bool:
    """Rule (d)'s training modules: see the module docstring."""
    own = name.rpartition(".")[2]
    return (name in TRAINING_DATA or in_package(name, "models") and (
        own in ("train", "evaluate", "calibrate") or own.startswith(("train_", "evaluate_"))))


def product_roots() -> list[str]:
    import demos

    return ["app", *(f"demos.{tab}" for tab in demos.TAB_MODULES), *TASK_ENTRIES]


def product_modules() -> dict[str, list[str]]:
    """Every product module -> the chain of imports that reaches it from a root."""
    _, imports, _ = graph()
    chains = {root: [root] for root in product_roots()}
    queue = list(chains)
    while queue:
        name = queue.pop(0)  # breadth first: the shortest chain is the one shown
        for found in imports[name]:
            if found.target not in chains:
                chains[found.target] = [*chains[name], found.target]
                queue.append(found.target)
    return chains


def find_cycles(imports: dict[str, list[Import]]) -> list[list[str]]:
    """One cycle (as a list of modules, the first repeated at the end) per strongly connected
    group of modules that import each other (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups = []
    for start in imports:
        if start in index:
            continue
        work = [(start, iter(imports[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            name, edges = work[-1]
            for found in edges:
                target = found.target
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(imports[target])))
                    break
                if target in on_stack:
                    low[name] = min(low[name], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[name])
                if low[name] == index[name]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == name:
                            break
                    if len(group) > 1:
                        groups.append(set(group))
    return [_cycle_within(group, imports) for group in groups]


def _cycle_within(group: set[str], imports: dict[str, list[Import]]) -> list[str]:
    """A shortest import cycle through the group's first module (sorted), for the message."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        name = queue.pop(0)
        for found in imports[name]:
            if found.target == start:
                return [*paths[name], start]
            if found.target in group and found.target not in paths:
                paths[found.target] = [*paths[name], found.target]
                queue.append(found.target)
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")


# === The rules ===


def test_the_graph_reads_lazy_imports_and_every_part_of_the_project():
    files, imports, third_party = graph()
    for name in ("app", "data_folder", "demos.aesthetic_tab", "models.aesthetic.rating",
                 "explain.api", "store.settings", "weights.resolver", "benchmarks.startup"):
        assert name in files, name
    # A lazy import, inside a function, counts.
    assert "models.aesthetic.warmup" in {found.target for found in imports["app"]}
    assert "gradio" in {found.target for found in third_party["demos.aesthetic_tab"]}
    # The lists this test relies on name real modules, so a rename cannot switch a rule off.
    for name in (*TRAINING_DATA, *TASK_ENTRIES, *product_roots()):
        assert name in files, f"{name} is listed in tests/test_import_graph.py but is no module"


def test_there_is_no_import_circle():
    _, imports, _ = graph()
    cycles = find_cycles(imports)
    assert not cycles, "import circles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_explain_weights_and_store_import_nothing_of_ours_but_the_data_folder():
    files, imports, _ = graph()
    broken = []
    for name in files:
        if name == "data_folder":
            broken += [str(found) for found in imports[name]]
        for layer in LAYERS:
            if in_package(name, layer):
                broken += [str(found) for found in imports[name]
                           if top(found.target) != layer
                           and (layer, found.target) not in LAYER_EXCEPTIONS]
    assert not broken, "\n".join(broken)


def test_models_never_import_the_store_the_demos_the_app_or_gradio():
    files, imports, third_party = graph()
    broken = []
    for name in files:
        if in_package(name, "models"):
            broken += [str(found) for found in imports[name]
                       if top(found.target) in MODELS_MUST_NOT_IMPORT]
            broken += [str(found) for found in third_party[name]
                       if top(found.target) in GRADIO]
    assert not broken, "\n".join(broken)


def test_product_code_never_imports_a_training_module():
    files, _, _ = graph()
    training = {name for name in files if is_training(name)}
    # The rule must catch what it is meant to: a sample of each kind.
    assert {"models.train", "models.evaluate", "models.pose.train",
            "models.aesthetic.train_quality", "models.aesthetic.evaluate_pipeline",
            "models.style.calibrate", "models.tags.mirflickr"} <= training
    assert "models.style.trained" not in training
    product = product_modules()
    assert {"models.aesthetic.rating", "models.aesthetic.calibration",
            "models.tags.tagging", "models.profile.index"} <= set(product)
    broken = [" -> ".join(product[name]) for name in sorted(training & set(product))]
    assert not broken, "product code reaches training modules:\n" + "\n".join(broken)

