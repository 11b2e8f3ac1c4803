"""One row per artifact, as `python -m weights list` prints it and the Models tab shows it."""

from __future__ import annotations

from dataclasses import dataclass

from weights.resolver import MISSING, artifacts, folder_size_bytes, locate


@dataclass(frozen=True)
class ArtifactRow:
    name: str
    title: str
    source: str
    revision: str
    licence: str
    size: str
    used_by: str
    status: str
    where: str


def human_size(num_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1000 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit in ("B", "KB") else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    raise AssertionError("unreachable")


def artifact_rows() -> list[ArtifactRow]:
    """Every manifest artifact with its status on this machine; never downloads."""
    rows = []
    for name, artifact in artifacts().items():
        where = locate(name)
        if where.path is not None and not artifact.is_package:
            size = human_size(folder_size_bytes(where.path))
        elif artifact.size_mb is not None:
            size = f"{artifact.size_mb:g} MB" + (" to fetch" if where.status == MISSING else "")
        else:
            size = "unknown"
        rows.append(
            ArtifactRow(
                name=name,
                title=artifact.title,
                source=artifact.source,
                revision=artifact.revision,
                licence=artifact.licence,
                size=size,
                used_by=", ".join(artifact.used_by),
                status=where.status,
                where=str(where.path) if where.path is not None else where.detail,
            )
        )
    return rows
