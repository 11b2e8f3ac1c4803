"""The manifest: every artifact InstaVis loads, read from `weights/manifest.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")

HUB_SCHEME = "hf://"
PACKAGE_SCHEME = "package:"
BUNDLED = "bundled"


class ManifestError(ValueError):
    """The manifest names an artifact badly (a typo in manifest.toml, not a user error)."""


@dataclass(frozen=True)
class Artifact:
    """One entry of the manifest.

    Attributes:
        name: the key in manifest.toml and the folder name under every search root.
        title: what it is, in a few words.
        source: "hf://OWNER/REPO", "bundled" or "package:DIST==VERSION".
        revision: Hub branch, tag or commit (the package version for packages).
        files: glob patterns of the Hub files to fetch.
        required: files whose presence makes a copy complete.
        format: how the files load (keras-hub-preset, timm-safetensors, keras, package).
        licence: the licence the source publishes the weights under.
        size_mb: download size when known.
        used_by: the tabs that use it.
        sha256: file name -> expected sha256, checked on first load.
        command: for bundled artifacts, the command that made them.
    """

    name: str
    title: str
    source: str
    revision: str
    format: str
    licence: str
    used_by: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    size_mb: float | None = None
    sha256: dict[str, str] = field(default_factory=dict)
    command: str | None = None

    @property
    def on_hub(self) -> bool:
        return self.source.startswith(HUB_SCHEME)

    @property
    def is_package(self) -> bool:
        return self.source.startswith(PACKAGE_SCHEME)

    @property
    def is_bundled(self) -> bool:
        return self.source == BUNDLED

    @property
    def repo_id(self) -> str:
        """The Hub repository, e.g. "keras/clip_vit_base_patch32"."""
        if not self.on_hub:
            raise ManifestError(f"{self.name} is not a Hub artifact (source {self.source!r})")
        return self.source[len(HUB_SCHEME) :]

    @property
    def package(self) -> tuple[str, str | None]:
        """(distribution name, pinned version or None) of a package artifact."""
        spec = self.source[len(PACKAGE_SCHEME) :]
        dist, _, version = spec.partition("==")
        return dist.strip(), (version.strip() or None)


_FIELDS = {f for f in Artifact.__dataclass_fields__ if f != "name"}
_REQUIRED_FIELDS = {"title", "source", "revision", "format", "licence"}


def _artifact_from_table(name: str, table: dict) -> Artifact:
    unknown = set(table) - _FIELDS
    if unknown:
        raise ManifestError(f"[{name}] has unknown field(s): {', '.join(sorted(unknown))}")
    missing = _REQUIRED_FIELDS - set(table)
    if missing:
        raise ManifestError(f"[{name}] lacks field(s): {', '.join(sorted(missing))}")
    source = table["source"]
    if not (source.startswith((HUB_SCHEME, PACKAGE_SCHEME)) or source == BUNDLED):
        raise ManifestError(
            f"[{name}] source {source!r} must be hf://OWNER/REPO, bundled or package:DIST"
        )
    values = dict(table)
    for key in ("used_by", "files", "required"):
        values[key] = tuple(values.get(key, ()))
    values["sha256"] = dict(values.get("sha256", {}))
    return Artifact(name=name, **values)


def load_manifest(path: Path | str = MANIFEST_PATH) -> dict[str, Artifact]:
    """Read the manifest into {name: Artifact}, keeping the file's order."""
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    return {name: _artifact_from_table(name, table) for name, table in data.items()}
