"""The one progress bar of the package.

Over a method's rows, a search's iterations, a metric's rows through the model, an
evaluation's batches.
"""

from __future__ import annotations

from typing import Any

from captum_smooth._utils import validation as check


def progress_bar(show: bool, total: int, desc: str, unit: str = "rows") -> Any:
    """A tqdm bar of ``total`` units, or ``None`` when not shown.

    ``show`` is the caller's ``show_progress``, checked to be a bool. The caller advances the
    bar with ``update`` and closes it.
    """
    if not check.check_flag("show_progress", show):
        return None
    from tqdm.auto import tqdm  # a dependency of Captum's; loaded only when a bar is shown

    return tqdm(total=total, desc=desc, unit=unit)
