"""The app's tabs, one module each: UI only, nothing heavy at import.

Each tab module has KEY (its api_name and URL-safe id), TITLE and build(), which adds its
components to the current gr.Blocks. TABS lists them in the order the app shows them.
"""

from demos import aesthetic_tab, models_tab, pose_tab

TABS = (aesthetic_tab, pose_tab, models_tab)

__all__ = ["TABS"]
