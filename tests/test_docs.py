"""The docs say only what is true, and the checkable parts are checked here.

- docs/api.md's table of endpoints is what the served app's `view_api()` reports: the same
  endpoints, and each endpoint's parameters with their names, order and defaults.
- Every file path, module name and `python -m` command that README.md, CONTRIBUTING.md and
  docs/**/*.md cite exists, and each command's `--help` runs.
- Every image the docs show exists.

Each check collects every problem before it fails, and fails with one line per problem naming
the doc, the line and what is missing. The scanners are plain functions of a doc and a repository
root, so the tests at the top run them on small made-up repositories, where the problems are
known, before the tests at the bottom run them on the real docs.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from urllib.parse import unquote

from tests.served import app_client

ROOT = Path(__file__).resolve().parents[1]

PROJECT_PACKAGES = frozenset({"app", "demos", "models", "explain", "store", "weights",
                              "benchmarks", "tests", "data_folder"})
"""A dotted name in backticks is a module (or a module's attribute) when it starts with one of
these; other dotted names (`gr.Image`, `tf.function`) belong to other projects."""

FILE_EXTENSIONS = (".py", ".md", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".txt",
                   ".npz", ".npy", ".toml", ".json", ".yml", ".yaml", ".csv", ".cfg", ".ini",
                   ".sh", ".keras", ".html")
"""A name in backticks that ends in one of these is a file, even without a folder."""

HELP_SECONDS = 300
"""How long one `python -m X --help` may take; some import TensorFlow, which takes a while on a
loaded machine, but none should be near this."""


def user_docs(root: Path = ROOT) -> list[Path]:
    """The docs a reader opens. CHANGELOG.md is left out: it may rightly name files that are
    gone."""
    top = [root / name for name in ("README.md", "CONTRIBUTING.md") if (root / name).is_file()]
    return top + sorted((root / "docs").rglob("*.md"))


# === Reading a markdown doc ===

@dataclass(frozen=True, order=True)
class Cited:
    """Something a doc cites, and the line where the citation starts. `absent` when the doc
    says it is not there ("no alembic.ini")."""
    line: int
    text: str
    absent: bool = False


ABSENT = re.compile(r"\b(no|not|nor|without)\s+$", re.IGNORECASE)


def said_to_be_absent(prose: str, offset: int) -> bool:
    return bool(ABSENT.search(prose[max(0, offset - 12):offset]))


FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def split_code_blocks(text: str) -> tuple[str, list[Cited]]:
    """The prose of a doc, with its fenced code blocks blanked (so line numbers stay), and the
    blocks' lines, each with its line number."""
    prose, code = [], []
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence = opening.group(1)
            prose.append("")
        elif fence is not None:
            closing = FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) \
                    and not line.strip()[len(closing.group(1)):].strip():
                fence = None
            else:
                code.append(Cited(number, line))
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), code


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def inline_code(prose: str) -> list[Cited]:
    """The inline code spans of prose, each on one line (markdown lets a span wrap)."""
    spans = []
    for match in INLINE_CODE.finditer(prose):
        if "\n\n" in match.group(2):  # a lone backtick, not a span: spans end with a paragraph
            continue
        spans.append(Cited(line_of(prose, match.start()), " ".join(match.group(2).split()),
                           said_to_be_absent(prose, match.start())))
    return spans


def without_inline_code(prose: str) -> str:
    """Prose with its inline code spans blanked, so `[x](y)` written as code is not a link."""
    return blanked(INLINE_CODE, prose)


LINK_TARGET = r"\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)"
MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]" + LINK_TARGET)
MARKDOWN_LINK = re.compile(r"(?<!!)\[[^\]]*\]" + LINK_TARGET)
LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)>?", re.MULTILINE)
HTML_LINK = re.compile(r"<a\b[^>]*?\bhref\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE | re.DOTALL)
HTML_IMAGE = re.compile(r"<img\b[^>]*?\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE | re.DOTALL)


def images(prose: str) -> list[Cited]:
    """Where `![alt](path)` and `<img src="path">` point."""
    prose = without_inline_code(prose)
    found = [*MARKDOWN_IMAGE.finditer(prose), *HTML_IMAGE.finditer(prose)]
    return sorted(Cited(line_of(prose, match.start()), match.group(1)) for match in found)


def links(prose: str) -> list[Cited]:
    """Where `[text](target)`, `[name]: target` and `<a href="target">` links point (images are
    `images`)."""
    prose = without_inline_code(prose)
    found = [*MARKDOWN_LINK.finditer(prose), *LINK_DEFINITION.finditer(prose),
             *HTML_LINK.finditer(prose)]
    return sorted(Cited(line_of(prose, match.start()), match.group(1)) for match in found)


def blanked(pattern: re.Pattern, text: str) -> str:
    """`text` with what `pattern` matches replaced by spaces, lines kept."""
    return pattern.sub(lambda match: re.sub(r"[^\n]", " ", match.group()), text)


PROSE_FILE_NAME = re.compile(
    r"(?<![\w/.:~$<-])((?:\.{1,2}/)?[\w-]+(?:[./][\w-]+)*\.(?:"
    + "|".join(extension[1:] for extension in FILE_EXTENSIONS) + r"))(?![\w/-])")
HTML_TAG = re.compile(r"<[^>\n]*>")


def prose_file_names(prose: str) -> list[Cited]:
    """File names and paths written in plain prose, outside code, links, images and HTML tags
    ("as DESIGN.md says")."""
    for pattern in (INLINE_CODE, MARKDOWN_IMAGE, MARKDOWN_LINK, LINK_DEFINITION, HTML_TAG):
        prose = blanked(pattern, prose)
    return [Cited(line_of(prose, match.start()), match.group(1),
                  said_to_be_absent(prose, match.start()))
            for match in PROSE_FILE_NAME.finditer(prose)]


def is_external(target: str) -> bool:
    """A URL (`https:`, `mailto:`, `hf:`, ...) rather than a file of the repository."""
    return bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", target)) or target.startswith("//")


# === Files ===

def inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def link_problem(doc: Path, root: Path, target: str, what: str) -> str | None:
    """Why a link's or an image's target is not a file of the repository, or None. A relative
    target is read from the doc's own folder, as GitHub reads it; one starting with / from the
    root."""
    if is_external(target):
        return None
    path = unquote(target.split("#")[0].split("?")[0])
    if not path:  # a link to a heading of the same doc
        return None
    resolved = root / path.lstrip("/") if path.startswith("/") else doc.parent / path
    if not inside(resolved, root):
        return f"{what} `{target}` is outside the repository"
    if not resolved.exists():
        return f"{what} `{target}` does not exist"
    return None


PATH_CHARACTERS = re.compile(r"[A-Za-z0-9_./-]+")
LINE_NUMBER = re.compile(r":\d+(-\d+)?$")
"""`file.py:12` or `file.py:12-20` cites lines of file.py."""


def looks_like_a_path(token: str, doc: Path, root: Path) -> bool:
    """A backticked token that names a file or folder of the repository: plain path characters
    only (no placeholder such as <task>, no glob, no URL), not absolute (an endpoint such as
    /aesthetic, a server path), not an option; and a file name (it ends in a file extension),
    or a path that starts with ./ or ../, or one whose first folder is in the repository (at the
    root or beside the doc). So `runs/pose`, where a command writes, and `ours/lib`, a table's
    column, are not paths, while `models/gone/` and `../shared/DESIGN.md` are."""
    token = LINE_NUMBER.sub("", token)
    if not PATH_CHARACTERS.fullmatch(token) or token.startswith(("/", "-")):
        return False
    if re.fullmatch(r"\.\w+", token):  # an extension on its own, such as `.keras`
        return False
    if token.lower().endswith(FILE_EXTENSIONS) or token.startswith(("./", "../")):
        return True
    first, slash, _ = token.partition("/")
    return bool(slash) and any((base / first).is_dir() for base in (root, doc.parent))


@cache
def file_names(root: Path) -> frozenset[str]:
    """The name of every file in the repository (outside hidden folders and caches)."""
    names = set()
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__"
                                      for part in parts[:-1]):
            names.add(path.name)
    return frozenset(names)


@cache
def project_source(root: Path) -> str:
    """The project's Python source, tests left out, as one text."""
    return "\n".join(path.read_text(errors="replace")
                     for package in sorted(PROJECT_PACKAGES)
                     for path in sorted([*(root / package).rglob("*.py"),
                                         *root.glob(f"{package}.py")])
                     if package != "tests" and "__pycache__" not in path.parts)


def path_problem(doc: Path, root: Path, token: str) -> str | None:
    """Why a path in backticks names nothing, or None. A path with a folder is read from the
    root or from the doc's folder. A bare file name may also be any file's name in the
    repository (`brisque.py` in a sentence about models/aesthetic/), or a name the code writes
    or reads, in quotes in the source (`metrics.json`, which a training run writes)."""
    token = LINE_NUMBER.sub("", token)
    for base in (root, doc.parent):
        candidate = base / token
        if inside(candidate, root) and candidate.exists():
            return None
    bare = "/" not in token.rstrip("/")
    if bare and (token in file_names(root) or f'"{token}"' in project_source(root)
                 or f"'{token}'" in project_source(root)):
        return None
    return f"`{token}` does not exist"


# === Modules ===

DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def dotted_name(span: str) -> str | None:
    """The module or attribute a backticked span names, such as `models.aesthetic.rate` in
    `models.aesthetic.rate(image) -> AestheticRating`: a dotted name at the span's start that
    starts with a project package. It may be a file's name too (`app.py`)."""
    match = DOTTED_NAME.match(span)
    if not match or match.group().split(".")[0] not in PROJECT_PACKAGES:
        return None
    if span[match.end():][:1] in ("/", "-", "*", "<"):
        return None
    return match.group()


def module_spec(name: str, root: Path) -> tuple[ModuleSpec | None, int]:
    """The spec of the longest module that `name` starts with, found on the file system
    without importing anything (find_spec would import the parent packages, some of which load
    TensorFlow), and how many of its dotted parts that module takes."""
    parts = name.split(".")
    spec = PathFinder.find_spec(parts[0], [str(root)])
    if spec is None:
        return None, 0
    taken = 1
    while taken < len(parts) and spec.submodule_search_locations:
        child = PathFinder.find_spec(".".join(parts[:taken + 1]),
                                     list(spec.submodule_search_locations))
        if child is None:
            break
        spec, taken = child, taken + 1
    return spec, taken


def top_level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """A module's statements, those under if, try, with and for included, but not those in
    functions or classes."""
    for statement in body:
        yield statement
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from top_level_statements(getattr(statement, field, None) or [])
        for handler in getattr(statement, "handlers", None) or []:
            yield from top_level_statements(handler.body)


def bound_names(statements: Iterable[ast.stmt]) -> dict[str, ast.stmt]:
    """The names statements bind, each with the statement that binds it."""
    names = {}
    for statement in statements:
        targets: list[ast.expr] = []
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[statement.name] = statement
        elif isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, ast.AnnAssign | ast.AugAssign):
            targets = [statement.target]
        elif isinstance(statement, ast.Import | ast.ImportFrom):
            for alias in statement.names:
                names[alias.asname or alias.name.split(".")[0]] = statement
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Name):
                    names[node.id] = statement
    return names


@cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def attribute_problem(module_file: Path, module: str, attributes: list[str], root: Path,
                      depth: int = 0) -> str | None:
    """Why `module.attributes[0].attributes[1]...` names nothing, read from the module's
    source, or None. A name the module imports is followed to where it comes from; a module
    with a __getattr__ provides the names it spells out as strings."""
    tree = parsed(module_file)
    names = bound_names(top_level_statements(tree.body))
    first, rest = attributes[0], attributes[1:]
    where = module_file.relative_to(root)
    if first not in names:
        lazy = "__getattr__" in names and any(
            isinstance(node, ast.Constant) and node.value == first for node in ast.walk(tree))
        return None if lazy else f"{where} defines no `{first}`"
    if not rest:
        return None
    binding = names[first]
    if isinstance(binding, ast.ImportFrom) and depth < 5:
        source = binding.module or ""
        if binding.level:  # a relative import, from the module's package
            package = module.split(".")
            if module_file.name != "__init__.py":
                package = package[:-1]
            package = package[:len(package) - binding.level + 1]
            source = ".".join([*package, *([source] if source else [])])
        original = next(alias.name for alias in binding.names
                        if (alias.asname or alias.name) == first)
        return name_problem(f"{source}.{original}.{'.'.join(rest)}", root, depth + 1)
    # A class's (or an object's) own attribute: bound somewhere in the module's source.
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                and node.name == rest[0]:
            return None
        if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Store) \
                and (getattr(node, "id", None) or getattr(node, "attr", None)) == rest[0]:
            return None
    return f"{where} defines no `{first}.{rest[0]}`"


def name_problem(name: str, root: Path, depth: int = 0) -> str | None:
    """Why a dotted name is neither a module of the project nor an attribute one defines."""
    spec, taken = module_spec(name, root)
    parts = name.split(".")
    if spec is None:
        return f"`{name}`: there is no module `{parts[0]}`"
    if taken == len(parts):
        return None
    if not spec.origin or not spec.origin.endswith(".py"):
        return f"`{name}`: `{'.'.join(parts[:taken])}` has no `{parts[taken]}`"
    problem = attribute_problem(Path(spec.origin), ".".join(parts[:taken]), parts[taken:], root,
                                depth)
    return None if problem is None else f"`{name}`: {problem}"


# === `python -m` commands ===

PYTHON_M = re.compile(r"\bpython3?\s+-m\s+([A-Za-z_][\w.]*)")
PYTHON_SCRIPT = re.compile(r"\bpython3?\s+([\w./-]+\.py)\b")


def python_m_modules(text: str) -> list[Cited]:
    """The module of every `python -m X ...` a doc cites, in prose, code spans or code blocks
    alike (a placeholder such as `python -m <module>` names none)."""
    return [Cited(line_of(text, match.start()), match.group(1).rstrip("."))
            for match in PYTHON_M.finditer(text)]


# === Everything one doc cites ===

def citation_problems(doc: Path, root: Path) -> list[str]:
    """Every path, link and module name `doc` cites that does not exist, one line each."""
    text = doc.read_text()
    prose, code = split_code_blocks(text)
    name = doc.relative_to(root)
    problems = []
    for link in links(prose):
        problem = link_problem(doc, root, link.text, "link")
        if problem:
            problems.append((link.line, problem))
    for span in inline_code(prose):
        if span.absent:
            continue
        tokens = span.text.split()
        as_name = dotted_name(span.text)
        if len(tokens) == 1 and looks_like_a_path(tokens[0], doc, root):
            as_path = tokens[0]
        elif as_name and as_name.lower().endswith(FILE_EXTENSIONS):  # `app.py: error: ...`
            as_path = as_name
        else:
            as_path = None
        not_a_file = path_problem(doc, root, as_path) if as_path else None
        not_a_name = name_problem(as_name, root) if as_name else None
        # `app.py` is a file and `models.tags.json` a module's import: either one will do.
        problem = (not_a_file and not_a_name) if as_path and as_name \
            else (not_a_file or not_a_name)
        if problem:
            problems.append((span.line, problem))
    for written in prose_file_names(prose):
        problem = None if written.absent else path_problem(doc, root, written.text)
        if problem:
            problems.append((written.line, problem))
    # `python app.py`, in a span or a block: the script is a file of the repository.
    for cited in [*inline_code(prose), *code]:
        for script in PYTHON_SCRIPT.findall(cited.text):
            problem = path_problem(doc, root, script)
            if problem:
                problems.append((cited.line, problem))
    # In the doc's order, each once (a line may name the same missing file twice).
    return [f"{name}:{line}: {problem}" for line, problem in sorted(set(problems))]


def image_problems(doc: Path, root: Path) -> list[str]:
    """Every image `doc` shows whose file does not exist, one line each."""
    prose, _ = split_code_blocks(doc.read_text())
    name = doc.relative_to(root)
    return [f"{name}:{image.line}: {problem}" for image in images(prose)
            if (problem := link_problem(doc, root, image.text, "image"))]


def help_problems(docs: Iterable[Path], root: Path) -> list[str]:
    """Runs `python -m X --help` once for each module X the docs cite, two at a time (the
    machines running the suite have two cores), and returns a line for each that fails, naming
    every place that cites it."""
    cited_at: dict[str, list[str]] = {}
    for doc in docs:
        for command in python_m_modules(doc.read_text()):
            cited_at.setdefault(command.text, []).append(
                f"{doc.relative_to(root)}:{command.line}")

    def run(module: str) -> str | None:
        try:
            finished = subprocess.run([sys.executable, "-m", module, "--help"], cwd=root,
                                      capture_output=True, text=True, timeout=HELP_SECONDS,
                                      stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return f"did not finish in {HELP_SECONDS} s"
        if finished.returncode == 0:
            return None
        last = (finished.stderr.strip() or finished.stdout.strip() or "no output").splitlines()
        return f"exited {finished.returncode}: {last[-1].strip()}"

    modules = sorted(cited_at)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(run, modules))
    problems = []
    for module, outcome in zip(modules, outcomes, strict=True):
        if outcome:
            places = cited_at[module]
            also = f" (and {len(places) - 1} more)" if len(places) > 1 else ""
            problems.append(f"{places[0]}{also}: `python -m {module} --help` {outcome}")
    return problems


# === The API table ===

@dataclass(frozen=True)
class TableRow:
    line: int
    endpoint: str
    parameters: list[tuple[str, object]]
    """(name, default) in the written order; the default is NO_DEFAULT for a bare name."""


NO_DEFAULT = object()


def literal(text: str) -> object:
    """A default as written: a JSON or a Python literal (`["lime"]`, `"quality"`, `0.5`,
    `true`, `None`)."""
    try:
        return json.loads(text)
    except ValueError:
        return ast.literal_eval(text)


def table_cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def api_table(text: str) -> tuple[list[TableRow], list[str]]:
    """Every row of every table whose first column is `endpoint`, wherever it is in the doc (a
    table may be split under a heading per tab, with prose around each part), and a line for
    each row that cannot be read."""
    rows, unreadable = [], []
    in_table = False
    prose, _ = split_code_blocks(text)
    for number, line in enumerate(prose.splitlines(), start=1):
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        cells = table_cells(line)
        if not in_table:
            in_table = cells[0].lower() == "endpoint"
            header = True
            continue
        if header:  # the | --- | line under the header
            header = False
            continue
        endpoint = re.fullmatch(r"`(/\w+)`", cells[0])
        if endpoint is None or len(cells) < 2:
            unreadable.append(f"{number}: not a row of `/endpoint` | parameters | returns")
            continue
        parameters = []
        for written in re.findall(r"`([^`]+)`", cells[1]):
            name, equals, default = written.partition("=")
            if not re.fullmatch(r"\w+", name.strip()):
                unreadable.append(f"{number}: `{written}` is not `name` or `name = default`")
                continue
            if not equals:
                parameters.append((name.strip(), NO_DEFAULT))
                continue
            try:
                parameters.append((name.strip(), literal(default.strip())))
            except (ValueError, SyntaxError):
                unreadable.append(f"{number}: the default of `{written}` is not a literal")
        rows.append(TableRow(number, endpoint.group(1), parameters))
    return rows, unreadable


def shown(value: object) -> str:
    return "no default" if value is NO_DEFAULT else f"= {json.dumps(value)}"


def api_table_problems(text: str, named_endpoints: dict, doc: str = "docs/api.md"
                       ) -> list[str]:
    """Where a table of endpoints differs from view_api()'s named endpoints, one line each.
    Defaults are compared as JSON, so `1` is not `1.0` nor `true`."""
    rows, unreadable = api_table(text)
    problems = [f"{doc}:{problem}" for problem in unreadable]
    seen: dict[str, int] = {}
    for row in rows:
        if row.endpoint in seen:
            problems.append(f"{doc}:{row.line}: `{row.endpoint}` is listed again (first on line "
                            f"{seen[row.endpoint]})")
            continue
        seen[row.endpoint] = row.line
        if row.endpoint not in named_endpoints:
            problems.append(f"{doc}:{row.line}: `{row.endpoint}` is not an endpoint of the app")
            continue
        actual = [(parameter["parameter_name"],
                   parameter["parameter_default"] if parameter["parameter_has_default"]
                   else NO_DEFAULT)
                  for parameter in named_endpoints[row.endpoint]["parameters"]]
        written_names = [name for name, _ in row.parameters]
        actual_names = [name for name, _ in actual]
        if written_names != actual_names:
            problems.append(f"{doc}:{row.line}: `{row.endpoint}` parameters are written "
                            f"{written_names or 'none'}; view_api: {actual_names or 'none'}")
            continue
        for (name, written), (_, default) in zip(row.parameters, actual, strict=True):
            if shown(written) != shown(default):
                problems.append(f"{doc}:{row.line}: `{row.endpoint}` `{name}` is written "
                                f"{shown(written)}; view_api: {shown(default)}")
    for endpoint in named_endpoints:
        if endpoint not in seen:
            problems.append(f"{doc}: `{endpoint}` is missing from the table")
    return problems


# ====================================================================================
# The scanners, on made-up repositories whose problems are known
# ====================================================================================

def make_repository(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


PACKAGE_FILES = {
    "models/__init__.py": "",
    "models/thing/__init__.py": ("from .scoring import score as rate\n"
                                 "def __getattr__(name):\n"
                                 "    if name == 'LAZY':\n        return 1\n"
                                 "    raise AttributeError(name)\n"),
    "models/thing/scoring.py": ("import json\n\nWEIGHTS = (1, 2)\n\n"
                                "def score(x):\n    return x\n\n"
                                "class Scorer:\n    limit = 3\n"
                                "    def run(self):\n"
                                "        self.seen = True\n"
                                "        open('report.json', 'w')\n"),
    "docs/screens/tab.png": "png",
    "docs/other.md": "# other\n",
}


def test_citations_that_exist_pass(tmp_path):
    root = make_repository(tmp_path, {**PACKAGE_FILES, "docs/page.md": """\
# A page

See [the other page](other.md), [its heading](other.md#other), [the site](https://example.org),
[a heading here](#a-page), [from the root](/models/thing/scoring.py), [a reference][ref] and
<a href="other.md">an HTML link</a>.
`models/thing/scoring.py`, `models/thing/`, `docs/screens/tab.png`, `scoring.py` (a file's
name), `report.json` (a name the code writes), `screens/tab.png` (from the doc's folder),
`scoring.py:5` (a line of it).
Modules: `models.thing`, `models.thing.scoring`, `models.thing.scoring.WEIGHTS`,
`models.thing.rate(x) -> float` (imported),
`models.thing.scoring.Scorer.limit`, `models.thing.scoring.Scorer.seen`,
`models.thing.LAZY` (from __getattr__), `models.thing.scoring.json`.
`runs/pose` (where a command writes), `ours/lib` (a column), `app.py: error: <line>`.
Not paths or modules: `/aesthetic`, `models/<task>/`, `train_*`, `--out`, `.keras`,
`hf://x/y`, `sqlite:///PATH`, `~/.cache/x.json`, `gr.Image`, `app.py` is checked as a file.
In prose: app.py, models/thing/scoring.py, report.json, https://example.org/x/y.png,
<img src="screens/tab.png">, ~/.cache/x.json and $HOME/x.py; there is no alembic.ini.
```
models/nowhere.py  (in a code block: not a citation)
[in a block](nowhere.md)
```

[ref]: other.md
"""})
    (root / "app.py").write_text("")
    assert citation_problems(root / "docs/page.md", root) == []


def test_each_kind_of_missing_citation_is_named_with_its_line(tmp_path):
    root = make_repository(tmp_path, {**PACKAGE_FILES, "docs/page.md": """\
# A page
[gone](gone.md) and [not from the doc's folder](models/thing/scoring.py)
and [outside](../../etc/passwd).
`models/thing/gone.py`, `DESIGN.md`, `../shared/DESIGN.md`, `models/gone/`, `gone.py:3`
`models.thing.CONTENT_PROMPTS` and `models.thing.scoring.Scorer.gone()`
`models.nothing.x`, `explain.metrics`, `models.thing.rate.nothing`
Run `python app.py`.
<a href="gone.html">a page</a>

[gone ref]: gone/ref.md "a link defined below the text"
As DESIGN.md says, with no alembic.ini and not `setup.py`; see models/thing/old.py.
"""})
    # In the doc's order; on one line, in alphabetical order.
    assert citation_problems(root / "docs/page.md", root) == [
        "docs/page.md:2: link `gone.md` does not exist",
        "docs/page.md:2: link `models/thing/scoring.py` does not exist",
        "docs/page.md:3: link `../../etc/passwd` is outside the repository",
        "docs/page.md:4: `../shared/DESIGN.md` does not exist",
        "docs/page.md:4: `DESIGN.md` does not exist",
        "docs/page.md:4: `gone.py` does not exist",
        "docs/page.md:4: `models/gone/` does not exist",
        "docs/page.md:4: `models/thing/gone.py` does not exist",
        "docs/page.md:5: `models.thing.CONTENT_PROMPTS`: models/thing/__init__.py defines no "
        "`CONTENT_PROMPTS`",
        "docs/page.md:5: `models.thing.scoring.Scorer.gone`: models/thing/scoring.py defines no "
        "`Scorer.gone`",
        "docs/page.md:6: `explain.metrics`: there is no module `explain`",
        "docs/page.md:6: `models.nothing.x`: models/__init__.py defines no `nothing`",
        "docs/page.md:6: `models.thing.rate.nothing`: `models.thing.scoring.score.nothing`: "
        "models/thing/scoring.py defines no `score.nothing`",
        "docs/page.md:7: `app.py` does not exist",
        "docs/page.md:8: link `gone.html` does not exist",
        "docs/page.md:10: link `gone/ref.md` does not exist",
        "docs/page.md:11: `DESIGN.md` does not exist",
        "docs/page.md:11: `models/thing/old.py` does not exist",
    ]


def test_a_missing_image_is_named_with_its_line(tmp_path):
    root = make_repository(tmp_path, {**PACKAGE_FILES, "docs/page.md": """\
![shown](screens/tab.png) ![gone](screens/gone.png)
<p><img alt="shown" src="screens/tab.png"> <img
  width="300" src="../docs/screens/old.png"></p>
![from the root](/docs/screens/tab.png) ![external](https://example.org/x.png)
`![in code](not/an/image.png)`
"""})
    assert image_problems(root / "docs/page.md", root) == [
        "docs/page.md:1: image `screens/gone.png` does not exist",
        "docs/page.md:2: image `../docs/screens/old.png` does not exist",
    ]


def test_python_m_commands_are_found_in_prose_spans_and_blocks():
    text = ("Run `python -m tool --help`, or python -m other.sub.\n"
            "```bash\npython3 -m  third run --out x\npython -m <module>\n```\n")
    assert python_m_modules(text) == [Cited(1, "tool"), Cited(1, "other.sub"),
                                      Cited(3, "third")]


def test_a_command_whose_help_fails_is_named_with_every_place_citing_it(tmp_path):
    root = make_repository(tmp_path, {
        "tool.py": "import argparse\nargparse.ArgumentParser().parse_args()\n",
        "strict.py": "import sys\nif sys.argv[1:] != ['go']:\n    sys.exit(2)\n",
        "README.md": "`python -m tool` and `python -m strict go`\n",
        "docs/use.md": "\n```\npython -m strict go\npython -m missing\n```\n",
    })
    assert help_problems([root / "README.md", root / "docs/use.md"], root) == [
        f"docs/use.md:4: `python -m missing --help` exited 1: {sys.executable}: No module "
        "named missing",
        "README.md:1 (and 1 more): `python -m strict --help` exited 2: no output",
    ]


API_DOC = """\
# The API

Some prose about the API.

## Aesthetic

| endpoint | parameters (name = default) | returns |
| --- | --- | --- |
| `/rate` | `photo`, `methods = ["lime"]`, `seed = 0`, `target = None` | `verdict` |

## Models

| endpoint | parameters (name = default) | returns |
|---|---|---|
| `/models` | `artifact = "clip"`, `strict = true` | `result` |
| `/models_refresh` | none | `artifacts` |

| parameter | accepts |
| --- | --- |
| `photo` | a photo |
"""


def endpoint(*parameters: tuple) -> dict:
    return {"parameters": [{"parameter_name": name, "parameter_has_default": has,
                            "parameter_default": default} for name, has, default in parameters]}


RIGHT = {
    "/rate": endpoint(("photo", False, None), ("methods", True, ["lime"]), ("seed", True, 0),
                      ("target", True, None)),
    "/models": endpoint(("artifact", True, "clip"), ("strict", True, True)),
    "/models_refresh": endpoint(),
}


def test_an_api_table_split_under_headings_matches_its_endpoints():
    rows, unreadable = api_table(API_DOC)
    assert unreadable == []
    assert [(row.line, row.endpoint) for row in rows] == [
        (9, "/rate"), (15, "/models"), (16, "/models_refresh")]
    assert rows[0].parameters == [("photo", NO_DEFAULT), ("methods", ["lime"]), ("seed", 0),
                                  ("target", None)]
    assert api_table_problems(API_DOC, RIGHT) == []


def test_each_difference_from_view_api_is_named_with_its_line():
    app = {
        "/rate": endpoint(("photo", True, None), ("methods", True, ["gradcam"]),
                          ("seed", True, 0.0), ("target", True, None)),
        "/models": endpoint(("strict", True, True), ("artifact", True, "clip")),
        "/models_refresh": endpoint(),
        "/tags": endpoint(("photo", False, None)),
    }
    doc = API_DOC.replace("| `/models_refresh` | none | `artifacts` |",
                          "| `/models_refresh` | none | `artifacts` |\n"
                          "| `/gone` | `x` | `y` |\n"
                          "| `/rate` | `photo` | `verdict` |\n"
                          "| /typo | `x = [` | `y` |")
    assert api_table_problems(doc, app) == [
        "docs/api.md:19: not a row of `/endpoint` | parameters | returns",
        "docs/api.md:9: `/rate` `photo` is written no default; view_api: = null",
        'docs/api.md:9: `/rate` `methods` is written = ["lime"]; view_api: = ["gradcam"]',
        "docs/api.md:9: `/rate` `seed` is written = 0; view_api: = 0.0",
        "docs/api.md:15: `/models` parameters are written ['artifact', 'strict']; view_api: "
        "['strict', 'artifact']",
        "docs/api.md:17: `/gone` is not an endpoint of the app",
        "docs/api.md:18: `/rate` is listed again (first on line 9)",
        "docs/api.md: `/tags` is missing from the table",
    ]


# ====================================================================================
# The real docs
# ====================================================================================

def test_the_docs_api_table_is_what_view_api_reports():
    api_doc = ROOT / "docs" / "api.md"
    assert api_doc.is_file(), "docs/api.md, the table of endpoints, is missing"
    with app_client() as client:
        info = client.view_api(print_info=False, return_format="dict")
    assert info["unnamed_endpoints"] == {}
    problems = api_table_problems(api_doc.read_text(), info["named_endpoints"])
    assert not problems, "\n" + "\n".join(problems)


def test_every_path_link_and_module_the_docs_cite_exists():
    problems = [problem for doc in user_docs() for problem in citation_problems(doc, ROOT)]
    assert not problems, "\n" + "\n".join(problems)


def test_every_image_the_docs_show_exists():
    problems = [problem for doc in user_docs() for problem in image_problems(doc, ROOT)]
    assert not problems, "\n" + "\n".join(problems)


def test_every_python_m_command_the_docs_cite_runs_its_help():
    docs = user_docs()
    assert any(python_m_modules(doc.read_text()) for doc in docs), "the docs cite no command"
    problems = help_problems(docs, ROOT)
    assert not problems, "\n" + "\n".join(problems)
