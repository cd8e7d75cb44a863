"""What .ci/run checks in the built distributions before installing the wheel.

The sdist and the wheel carry LICENSE, and the wheel carries every file of the package that git
tracks (a module or data file missing from the wheel fails here, before the tests that would
import it from site-packages).
    usage: python .ci/check_dist.py dist
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path


def tracked_package_files(root: Path) -> set[str]:
    """The files of captum_smooth/ that git tracks, as paths relative to the repository."""
    listed = subprocess.run(
        ["git", "ls-files", "captum_smooth"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    return set(listed)


def main(dist: Path) -> int:
    """Print what the distributions in ``dist`` lack; 1 if anything, else 0."""
    root = Path(__file__).resolve().parents[1]
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append(f"{wheel.name} has no .dist-info/licenses/LICENSE")
    missing = sorted(tracked_package_files(root) - names)
    problems += [f"{wheel.name} lacks {name}" for name in missing]
    with tarfile.open(sdist) as archive:
        top = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in archive.getnames()}
    problems += [f"{sdist.name} lacks {n}" for n in ("LICENSE", "pyproject.toml") if n not in top]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(
            f"{wheel.name}: LICENSE and all {len(tracked_package_files(root))} package files; "
            f"{sdist.name}: LICENSE"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
