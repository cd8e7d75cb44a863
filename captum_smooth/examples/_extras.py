"""Optional dependencies of the examples: imported on use, or an error naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional dependency of the examples is not installed.

    Example:
        >>> from captum_smooth.examples import MissingExtraError, require
        >>> try:
        ...     require("not_installed", "text")
        ... except MissingExtraError as error:
        ...     print(error)
        not_installed is not installed; install the text extra: pip install 'captum-smooth[text]'
        >>> issubclass(MissingExtraError, ImportError)
        True
    """


def require(module: str, extra: str = "examples") -> ModuleType:
    """Import ``module``, or raise :class:`MissingExtraError` naming the extra to install.

    Args:
        module: the module's dotted name.
        extra: the package's extra that installs it (``examples`` or ``text``).

    Returns:
        The imported module.

    Raises:
        MissingExtraError: ``module`` is not installed.

    Example:
        >>> from captum_smooth.examples import require
        >>> require("skimage.data").__name__  # installed with the examples extra
        'skimage.data'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{module} is not installed; install the {extra} extra: "
            f"pip install 'captum-smooth[{extra}]'"
        ) from error
