"""`python -m weights lock`: pin each Hub artifact to the commit it resolves to, with checksums."""

from __future__ import annotations

import re
from pathlib import Path

import tomlkit

from weights.manifest import MANIFEST_PATH, Artifact
from weights.resolver import (
    WeightsUnavailable,
    download,
    fix_command,
    hub_cache_dir,
    is_offline,
    offline_reason,
    sha256_of,
)

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def resolved_commit(artifact: Artifact) -> str:
    """The commit the manifest's revision points at: asked of the Hub, or read from the cache."""
    if _COMMIT.match(artifact.revision):
        return artifact.revision
    if not is_offline():
        from huggingface_hub import HfApi

        try:
            return HfApi().model_info(artifact.repo_id, revision=artifact.revision).sha
        except Exception as error:  # noqa: BLE001 - fall back to the cache below
            hub_error = f"{type(error).__name__}"
    else:
        hub_error = f"offline: {offline_reason()}"
    ref = hub_cache_dir() / f"models--{artifact.repo_id.replace('/', '--')}" / "refs"
    ref_file = ref / artifact.revision
    if ref_file.is_file():
        return ref_file.read_text().strip()
    raise WeightsUnavailable(
        artifact,
        [f"Hub {artifact.source}@{artifact.revision} ({hub_error})",
         f"Hugging Face cache {ref_file} (no such ref)"],
        fix_command(artifact),
    )


def checksums(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): sha256_of(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def lock(artifacts: list[Artifact], manifest_path: Path = MANIFEST_PATH) -> list[str]:
    """Write the resolved commit and file checksums of `artifacts` into the manifest.

    Returns one line per artifact describing what changed.
    """
    document = tomlkit.parse(Path(manifest_path).read_text())
    lines = []
    for artifact in artifacts:
        if not artifact.on_hub:
            lines.append(f"{artifact.name}: skipped ({artifact.source} is not on the Hub)")
            continue
        commit = resolved_commit(artifact)
        pinned = Artifact(**{**artifact.__dict__, "revision": commit})
        folder = download(pinned) if not is_offline() else _cached_snapshot(pinned)
        table = document[artifact.name]
        table["revision"] = commit
        sums = tomlkit.table()
        for relative, digest in checksums(folder).items():
            sums[relative] = digest
        table["sha256"] = sums
        lines.append(f"{artifact.name}: {artifact.revision} -> {commit} ({len(sums)} files)")
    Path(manifest_path).write_text(tomlkit.dumps(document))
    return lines


def _cached_snapshot(artifact: Artifact) -> Path:
    folder = (
        hub_cache_dir() / f"models--{artifact.repo_id.replace('/', '--')}" / "snapshots"
        / artifact.revision
    )
    if not folder.is_dir():
        raise WeightsUnavailable(
            artifact, [f"Hugging Face cache {folder} (not cached)"], fix_command(artifact)
        )
    return folder
