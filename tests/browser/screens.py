"""Screenshots for people, not for assertions: when CASEMGR_SCREENSHOTS=<dir> is set, a browser test
saves full-page PNGs of the pages it walks there (e.g. the before/after pictures of a usability change);
unset, nothing is written. No test compares pixels."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page

VARIABLE = "CASEMGR_SCREENSHOTS"


def save_screenshot(page: Page, name: str) -> Path | None:
    """Save the whole page (not just the viewport) as <dir>/<name>.png; return the path, or None when
    screenshots are off."""
    folder = os.environ.get(VARIABLE)
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Fonts and images are loaded before the picture is taken (Playwright waits for fonts itself);
    # "networkidle" would also wait for nothing, as no page here polls.
    page.wait_for_load_state("load")
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path
