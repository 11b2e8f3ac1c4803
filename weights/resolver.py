"""Find an artifact's files on this machine, or fetch them from the Hugging Face Hub.

`resolve(name)` looks in four places, in order, and returns the first complete copy:

1. `$INSTAVIS_WEIGHTS_DIR/<name>/`: a local override, for tests and offline users;
2. `weights/<name>/`: files shipped inside this repository;
3. the Hugging Face cache, at the manifest's revision;
4. the Hub itself, at the manifest's revision, unless offline (`HF_HUB_OFFLINE=1` or
   `set_offline(True)`, which `--offline` calls).

When every place fails it raises `WeightsUnavailable`, whose message names the artifact, each
place tried and the one command that fixes it. Files with a recorded sha256 are checked the
first time a process resolves them; a mismatch raises `WeightsCorrupt`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from weights.manifest import MANIFEST_PATH, Artifact, load_manifest

ENV_WEIGHTS_DIR = "INSTAVIS_WEIGHTS_DIR"
SHIPPED_ROOT = Path(__file__).resolve().parent

# Statuses reported by `locate` and shown in `python -m weights list` and the Models tab.
OVERRIDE = "override"
SHIPPED = "shipped"
CACHED = "cached"
INSTALLED = "installed"
MISSING = "missing"

_TRUTHY = {"1", "true", "yes", "on"}
_offline_flag = False
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_verified: set[tuple[str, int, int]] = set()


class WeightsUnavailable(RuntimeError):
    """No complete copy of an artifact could be found or fetched.

    Attributes:
        name: the artifact.
        tried: one line per place looked in, with why it did not serve.
        fix: the one command that fixes it.
        summary: one sentence for a UI.
    """

    def __init__(self, artifact: Artifact, tried: list[str], fix: str):
        self.name = artifact.name
        self.title = artifact.title
        self.tried = list(tried)
        self.fix = fix
        self.summary = f"{artifact.title} ({artifact.name}) is not on this machine: run `{fix}`."
        how = f"run `{fix}`"
        if artifact.on_hub:
            how += (f" on a machine that reaches the Hugging Face Hub, or put a copy in "
                    f"${ENV_WEIGHTS_DIR}/{artifact.name}/")
        super().__init__(
            f"Weights '{artifact.name}' ({artifact.title}) are unavailable. "
            f"Tried: {'; '.join(self.tried)}. Fix: {how}."
        )


class WeightsCorrupt(WeightsUnavailable):
    """A file's sha256 differs from the manifest's."""

    def __init__(self, artifact: Artifact, path: Path, expected: str, actual: str):
        fix = f"python -m weights pull {artifact.name} --force"
        tried = [f"{path} has sha256 {actual[:12]}..., the manifest expects {expected[:12]}..."]
        super().__init__(artifact, tried, fix)
        self.summary = (
            f"{artifact.title} ({artifact.name}) failed its checksum: run `{fix}`."
        )


@dataclass(frozen=True)
class Location:
    """Where an artifact is on this machine, without downloading or hashing anything."""

    status: str
    path: Path | None
    detail: str


# === Offline switch ===


def set_offline(offline: bool) -> None:
    """Forbid (True) or allow (False) downloads for this process; `--offline` calls it."""
    global _offline_flag
    _offline_flag = bool(offline)
    if offline:
        # huggingface_hub and keras-hub read the variable too; keep them in line.
        os.environ["HF_HUB_OFFLINE"] = "1"


def is_offline() -> bool:
    return _offline_flag or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUTHY


def offline_reason() -> str:
    return "--offline was given" if _offline_flag else "HF_HUB_OFFLINE=1 is set"


# === Manifest access ===


def artifacts(manifest_path: Path | str | None = None) -> dict[str, Artifact]:
    """Every artifact of the manifest, in file order."""
    return load_manifest(manifest_path or MANIFEST_PATH)


def get_artifact(name: str) -> Artifact:
    known = artifacts()
    if name not in known:
        raise KeyError(f"Unknown artifact {name!r}; the manifest has: {', '.join(known)}.")
    return known[name]


def fix_command(artifact: Artifact) -> str:
    if artifact.is_package:
        dist, version = artifact.package
        return f"pip install {dist}=={version}" if version else f"pip install {dist}"
    if artifact.is_bundled:
        return artifact.command or f"git checkout -- weights/{artifact.name}"
    return f"python -m weights pull {artifact.name}"


def hub_cache_dir() -> Path:
    """The Hugging Face cache, read from the environment at call time (not import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface"
    )
    return Path(hf_home).expanduser() / "hub"


# === The four places ===


def _missing_files(folder: Path, artifact: Artifact) -> list[str]:
    """Required files absent from `folder`; "a|b" is satisfied by either file."""
    return [name for name in artifact.required
            if not any((folder / option).is_file() for option in name.split("|"))]


def _check_folder(folder: Path, artifact: Artifact) -> str | None:
    """None when `folder` holds a complete copy, else why not."""
    if not folder.is_dir():
        return "no such folder"
    if not any(folder.iterdir()):
        return "empty folder"
    missing = _missing_files(folder, artifact)
    if missing:
        return f"incomplete, lacks {', '.join(missing)}"
    return None


def _override_place(artifact: Artifact) -> tuple[Path | None, str]:
    root = os.environ.get(ENV_WEIGHTS_DIR, "").strip()
    if not root:
        return None, f"${ENV_WEIGHTS_DIR}/{artifact.name} ({ENV_WEIGHTS_DIR} is not set)"
    folder = Path(root).expanduser() / artifact.name
    problem = _check_folder(folder, artifact)
    return (None, f"{folder} ({problem})") if problem else (folder, str(folder))


def _shipped_place(artifact: Artifact) -> tuple[Path | None, str]:
    folder = SHIPPED_ROOT / artifact.name
    problem = _check_folder(folder, artifact)
    if problem == "no such folder":
        problem = "none shipped"
    return (None, f"{folder} ({problem})") if problem else (folder, str(folder))


def _cache_place(artifact: Artifact) -> tuple[Path | None, str]:
    cache = hub_cache_dir()
    label = f"Hugging Face cache {cache}"
    if not artifact.on_hub:
        return None, f"{label} (not a Hub artifact)"
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            snapshot_download(
                artifact.repo_id,
                revision=artifact.revision,
                cache_dir=cache,
                allow_patterns=list(artifact.files) or None,
                local_files_only=True,
            )
        )
    except Exception:  # noqa: BLE001 - any failure here just means "not cached"
        return None, f"{label} ({artifact.repo_id}@{artifact.revision} not cached)"
    missing = _missing_files(folder, artifact)
    if missing:
        return None, f"{label} (partial copy, lacks {', '.join(missing)})"
    return folder, str(folder)


def _package_place(artifact: Artifact) -> tuple[Path | None, str]:
    dist, version = artifact.package
    try:
        installed = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None, f"Python package {dist} (not installed)"
    if version and installed != version:
        return None, f"Python package {dist} ({installed} installed, {version} needed)"
    spec = importlib.util.find_spec(dist)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None, f"Python package {dist} (installed but not importable)"
    return Path(next(iter(spec.submodule_search_locations))), f"package {dist}=={installed}"


def locate(name: str) -> Location:
    """Where `name` is now, without downloading or hashing: for listings and the Models tab."""
    artifact = get_artifact(name)
    if artifact.is_package:
        path, detail = _package_place(artifact)
        return Location(INSTALLED if path else MISSING, path, detail)
    tried = []
    for status, place in ((OVERRIDE, _override_place), (SHIPPED, _shipped_place),
                          (CACHED, _cache_place)):
        path, detail = place(artifact)
        if path is not None:
            return Location(status, path, detail)
        tried.append(detail)
    return Location(MISSING, None, "; ".join(tried))


def available(name: str) -> bool:
    """Whether artifact `name` is on this machine now, ready to load.

    The one "are these weights here?" question, asked afresh each time, so weights pulled while
    the app runs are seen by the next request. Never downloads, never hashes, never loads; an
    artifact the manifest does not name is not available.
    """
    if name not in artifacts():
        return False
    return locate(name).path is not None


# === Integrity ===


def sha256_of(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def check_hashes(artifact: Artifact, folder: Path) -> None:
    """Raise WeightsCorrupt if a file with a recorded sha256 differs; each file hashed once."""
    for relative, expected in artifact.sha256.items():
        path = folder / relative
        if not path.is_file():
            raise WeightsUnavailable(
                artifact, [f"{folder} (lacks {relative}, which has a recorded sha256)"],
                fix_command(artifact),
            )
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key in _verified:
            continue
        actual = sha256_of(path)
        if actual != expected.lower():
            raise WeightsCorrupt(artifact, path, expected, actual)
        _verified.add(key)


# === Resolution and download ===


def _artifact_lock(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


ByteProgress = Callable[[int, int | None], None]
"""Called with (bytes downloaded so far, bytes in all, or None while the Hub has not said)."""


def byte_counter(progress: ByteProgress):
    """A tqdm class for `snapshot_download(tqdm_class=...)` that reports its byte counts to
    `progress` and draws nothing.

    huggingface_hub (2.x) makes two bars from the class it is given: the files done, and the
    bytes of every file together (unit "B"), whose total grows as each file's size becomes
    known. Only the byte bar is reported.
    """
    from tqdm import tqdm

    class _ByteCounter(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # nothing on the server's terminal
            self._bytes = kwargs.get("unit") == "B" and kwargs.get("desc", "").startswith(
                "Reconstructing")
            self._done = int(kwargs.get("initial") or 0)
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            # A disabled tqdm does not count, so the count is kept here.
            if self._bytes and n:
                self._done += int(n)
                progress(self._done, int(self.total) if self.total else None)
            return super().update(n)

    return _ByteCounter


def download(artifact: Artifact, *, force: bool = False, revision: str | None = None,
             progress: ByteProgress | None = None) -> Path:
    """Fetch `artifact` from the Hub into the Hugging Face cache; raise WeightsUnavailable.

    `progress`, when given, hears the bytes downloaded as they arrive (`byte_counter`).
    $HF_ENDPOINT (a Hub mirror) is read at each call, not only when huggingface_hub loads."""
    label = f"Hub {artifact.source}@{revision or artifact.revision}"
    if not artifact.on_hub:
        raise WeightsUnavailable(artifact, [f"{label} (not a Hub artifact)"], fix_command(artifact))
    if is_offline():
        raise WeightsUnavailable(
            artifact, [f"{label} (offline: {offline_reason()})"], fix_command(artifact)
        )
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            snapshot_download(
                artifact.repo_id,
                revision=revision or artifact.revision,
                cache_dir=hub_cache_dir(),
                allow_patterns=list(artifact.files) or None,
                force_download=force,
                endpoint=os.environ.get("HF_ENDPOINT") or None,
                tqdm_class=byte_counter(progress) if progress is not None else None,
            )
        )
    except Exception as error:  # noqa: BLE001 - every Hub failure becomes one clear message
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise WeightsUnavailable(
            artifact, [f"{label} (download failed: {type(error).__name__}: {reason[:200]})"],
            fix_command(artifact),
        ) from error
    missing = _missing_files(folder, artifact)
    if missing:
        raise WeightsUnavailable(
            artifact, [f"{label} (the repo lacks {', '.join(missing)})"], fix_command(artifact)
        )
    return folder


def resolve(name: str, *, allow_download: bool = True) -> Path:
    """The folder holding a complete, checked copy of artifact `name`.

    Args:
        name: a key of weights/manifest.toml.
        allow_download: False skips the fourth place (the Hub) even when online.

    Returns:
        The folder (for a package artifact, the installed package's folder).

    Raises:
        KeyError: `name` is not in the manifest.
        WeightsUnavailable: no place had it; the message says where it looked and how to fix it.
        WeightsCorrupt: a file failed its sha256 check.
    """
    artifact = get_artifact(name)
    if artifact.is_package:
        path, detail = _package_place(artifact)
        if path is None:
            raise WeightsUnavailable(artifact, [detail], fix_command(artifact))
        return path

    tried = []
    override, detail = _override_place(artifact)
    if override is not None:
        # The override is the user's own copy (or a test's tiny model): it is trusted as is.
        return override
    tried.append(detail)

    for place in (_shipped_place, _cache_place):
        folder, detail = place(artifact)
        if folder is not None:
            check_hashes(artifact, folder)
            return folder
        tried.append(detail)

    if not allow_download or not artifact.on_hub:
        reason = "downloads not allowed here" if artifact.on_hub else "not a Hub artifact"
        tried.append(f"Hub {artifact.source} ({reason})")
        raise WeightsUnavailable(artifact, tried, fix_command(artifact))

    with _artifact_lock(name):
        # Another thread may have finished the same download while this one waited.
        folder, _ = _cache_place(artifact)
        if folder is None:
            try:
                folder = download(artifact)
            except WeightsUnavailable as error:
                raise WeightsUnavailable(artifact, tried + error.tried, error.fix) from error
    check_hashes(artifact, folder)
    return folder


def pull(name: str, *, force: bool = False,
         progress: ByteProgress | None = None) -> tuple[Path, bool]:
    """Make sure `name` is on this machine; returns (folder, whether it was downloaded now).
    `progress` hears the bytes as they arrive (see `download`)."""
    artifact = get_artifact(name)
    if not force:
        where = locate(name)
        if where.path is not None:
            return where.path, False
    if not artifact.on_hub:
        raise WeightsUnavailable(artifact, [locate(name).detail], fix_command(artifact))
    with _artifact_lock(name):
        folder = download(artifact, force=force, progress=progress)
    check_hashes(artifact, folder)
    return folder, True


def folder_size_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def load_keras(name: str, filename: str):
    """Load a `.keras` file of artifact `name` with safe_mode=True: no lambda, no pickle."""
    import keras

    path = resolve(name) / filename
    return keras.saving.load_model(path, safe_mode=True)
