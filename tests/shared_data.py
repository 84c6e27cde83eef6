"""Where the workplace's read-only `shared/` folder is, for tests that read third-party data.

`../shared` beside the checkout (CI has it); `PRUM_SHARED` names another place. Tests that need
it skip with one line where it is absent (`needs_shared`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parent.parent


def _find() -> Path | None:
    candidates = [Path(os.environ["PRUM_SHARED"])] if os.environ.get("PRUM_SHARED") else []
    candidates += [parent / "shared" for parent in _ROOT.parents]
    for candidate in candidates:
        if (candidate / "thirdparty").is_dir():
            return candidate
    return None


SHARED = _find()
THIRDPARTY = SHARED / "thirdparty" if SHARED else Path("/nonexistent/shared/thirdparty")
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared (third-party data) is absent")
