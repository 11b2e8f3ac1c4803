"""Model weights: the manifest, the resolver and the `python -m weights` CLI.

This package imports nothing else of InstaVis, and nothing heavy at import time.
"""

from weights.manifest import MANIFEST_PATH, Artifact, ManifestError, load_manifest
from weights.resolver import (
    CACHED,
    ENV_WEIGHTS_DIR,
    INSTALLED,
    MISSING,
    OVERRIDE,
    SHIPPED,
    Location,
    WeightsCorrupt,
    WeightsUnavailable,
    artifacts,
    available,
    fix_command,
    folder_size_bytes,
    get_artifact,
    is_offline,
    load_keras,
    locate,
    offline_reason,
    pull,
    resolve,
    set_offline,
)

__all__ = [
    "CACHED", "ENV_WEIGHTS_DIR", "INSTALLED", "MISSING", "OVERRIDE", "SHIPPED", "MANIFEST_PATH",
    "Artifact", "Location", "ManifestError", "WeightsCorrupt", "WeightsUnavailable",
    "artifacts", "available", "fix_command", "folder_size_bytes", "get_artifact", "is_offline",
    "load_keras", "load_manifest", "locate", "offline_reason", "pull", "resolve", "set_offline",
]
