"""The repository explains itself: no file points outside it for its maths, and every link into
docs/reference.md lands on a heading there."""

import json
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference.md"
# Documents a user of the repository or of the wheel does not have.
OUTSIDE = re.compile(r"\.\./shared|shared/SPEC|\bSPEC\b")
ANCHOR = re.compile(r"reference\.md#([\w-]+)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
SKIPPED_DIRS = {
    ".git",
    ".venv",
    ".venv-ci",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    ".ruff_cache",
    ".ipynb_checkpoints",
    "build",
    "dist",
    "out",
}


def repository_files() -> list[Path]:
    """Tracked and not-ignored files: from git where it is available, else a walk of the tree."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        paths = [
            path
            for path in ROOT.rglob("*")
            if not any(
                part in SKIPPED_DIRS or part.endswith(".egg-info")
                for part in path.relative_to(ROOT).parts
            )
        ]
    return sorted(path for path in paths if path.is_file() and path != Path(__file__).resolve())


def text_of(path: Path) -> str | None:
    """The text a reader sees: for a notebook its cells and its stored text outputs (not the
    base64 of its images); ``None`` for a binary file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
    if path.suffix != ".ipynb":
        return text
    parts = []
    for cell in json.loads(text)["cells"]:
        parts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", [])))
            for kind, data in output.get("data", {}).items():
                if kind.startswith("text/") or kind == "application/json":
                    parts.append(data if isinstance(data, str) else json.dumps(data))
    return "\n".join(parts)


FILES = {
    path.relative_to(ROOT).as_posix(): text
    for path in repository_files()
    if (text := text_of(path)) is not None
}


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    kept = "".join(
        c for c in heading.strip().lower() if c in " -_" or unicodedata.category(c)[0] in "LN"
    )
    return kept.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found, seen, fenced = set(), {}, False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = re.match(r"#{1,6} (.+)", line)
        if match and not fenced:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def test_no_file_refers_to_documents_outside_the_repository():
    offending = [
        f"{name}:{number}: {line.strip()}"
        for name, text in FILES.items()
        for number, line in enumerate(text.splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not offending, "point these at docs/reference.md instead:\n" + "\n".join(offending)


def test_the_reference_exists_and_the_package_points_at_it():
    assert REFERENCE.is_file()
    citing = [name for name, text in FILES.items() if ANCHOR.search(text)]
    assert any(name.startswith("captum_smooth/") for name in citing)
    assert "README.md" in citing


def test_every_anchor_into_the_reference_is_a_heading_there():
    headings = anchors(REFERENCE.read_text(encoding="utf-8"))
    broken = [
        f"{name}: reference.md#{anchor}"
        for name, text in FILES.items()
        for anchor in ANCHOR.findall(text)
        if anchor not in headings
    ]
    own = REFERENCE.read_text(encoding="utf-8")
    broken += [
        f"docs/reference.md: #{target[1:]}"
        for target in LINK.findall(own)
        if target.startswith("#") and target[1:] not in headings
    ]
    assert not broken, f"no such heading in docs/reference.md ({sorted(headings)}):\n" + "\n".join(
        broken
    )


@pytest.mark.parametrize(
    "name", ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
)
def test_relative_links_of_the_documents_exist(name):
    document = ROOT / name
    missing = [
        target
        for target in LINK.findall(document.read_text(encoding="utf-8"))
        if not re.match(r"[a-z]+:|#", target)
        and not (document.parent / target.split("#")[0]).exists()
    ]
    assert not missing, f"{name} links to missing files: {missing}"


def test_every_test_the_reference_cites_exists():
    cited = re.findall(r"(tests/[\w/]+\.py)::(\w+)", REFERENCE.read_text(encoding="utf-8"))
    assert cited
    missing = [
        f"{path}::{name}"
        for path, name in cited
        if not (ROOT / path).is_file()
        or not re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)
    ]
    assert not missing, "docs/reference.md cites tests that do not exist:\n" + "\n".join(missing)


MACHINE_PATH = re.compile(
    r"(?<![\w.~])/(?:home|root|tmp|work|opt|usr|var|Users)/|site-packages|\b[A-Z]:\\"
)


@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "tutorials").glob("*.ipynb")))
def test_stored_tutorial_outputs_name_no_path_of_the_machine_that_ran_them(notebook):
    cells = json.loads((ROOT / "tutorials" / notebook).read_text(encoding="utf-8"))["cells"]
    outputs = [output for cell in cells for output in cell.get("outputs", [])]
    texts = []
    for output in outputs:
        texts.append("".join(output.get("text", [])))
        texts.append("\n".join(output.get("traceback", [])))
        for kind, data in output.get("data", {}).items():
            if not kind.startswith("image/"):
                texts.append("".join(data) if isinstance(data, list) else json.dumps(data))
    paths = [m.group(0) for text in texts for m in MACHINE_PATH.finditer(text)]
    assert not paths, f"{notebook}: stored outputs show paths of a machine: {paths[:5]}"
    assert not [o for o in outputs if o.get("output_type") == "error"], "outputs of a failed run"
    jpegs = [o for o in outputs if "image/jpeg" in o.get("data", {})]
    assert not jpegs, f"{notebook}: figures stored as JPEG blur pixel noise; store PNG"
