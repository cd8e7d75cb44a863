"""pytest plugin of .ci/run: the suite must test the installed wheel.

The run fails unless every ``captum_smooth`` module the tests imported came from site-packages,
never from the checkout.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest

SITE = Path(sysconfig.get_paths()["purelib"]).resolve()


def _outside_site_packages() -> list[str]:
    return [
        f"{name}: {module.__file__}"
        for name, module in sorted(sys.modules.items())
        if (name == "captum_smooth" or name.startswith("captum_smooth."))
        and getattr(module, "__file__", None)
        and SITE not in Path(module.__file__).resolve().parents
    ]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Before any test runs: the package is importable and is the installed copy."""
    import captum_smooth

    if stray := _outside_site_packages():
        raise pytest.UsageError(f"not the installed wheel ({SITE}):\n" + "\n".join(stray))
    print(f"\ncaptum_smooth under test: {Path(captum_smooth.__file__).parent}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """After the run: no module imported lazily by a test came from elsewhere."""
    if stray := _outside_site_packages():
        print(f"\nnot the installed wheel ({SITE}):\n" + "\n".join(stray))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
