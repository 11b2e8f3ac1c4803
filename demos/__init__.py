"""The app's tabs, one module each: UI only, nothing heavy at import.

Each tab module has KEY (its api_name and URL-safe id), TITLE and build(), which adds its
components to the current gr.Blocks and may return refreshers (see app.build_app). TABS lists
them in the order the app shows them. It is resolved on first use, so the plain-Python parts
of demos/ (demos.explain_runs, demos.styling, demos.figures) import without Gradio.
"""

import importlib

TAB_MODULES = ("aesthetic_tab", "pose_tab", "style_tab", "tags_tab", "profile_tab", "models_tab")


def __getattr__(name: str):
    if name == "TABS":
        return tuple(importlib.import_module(f"demos.{module}") for module in TAB_MODULES)
    raise AttributeError(f"module 'demos' has no attribute {name!r}")


__all__ = ["TABS"]
