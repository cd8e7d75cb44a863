"""Peak memory (RSS) of every README and tutorial snippet on the pretrained EfficientNet-Lite0,
with the package's default batching, measured in one run.

    python benchmarks/bench_memory.py [--out benchmarks/results/memory.md] [--limit-gb 3]

Each attribution statement of the README's Usage block runs in a fresh process after the
block's set-up lines (imports, model, images); each tutorial runs top to bottom in a fresh
Jupyter kernel. The peak resident set size of the process and everything it started (the
kernel) is read from ``wait4`` when it ends, so nothing else on the machine is counted. The
set-up alone is measured too: the model, torch and the photo cost about 0.9 GB before any
attribution.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def peak_rss(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """Run ``command``; its peak RSS (GB, itself and the processes it waited for), wall
    seconds and exit status."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 2**20, time.perf_counter() - start, process.returncode


def readme_snippets() -> tuple[str, list[str]]:
    """The README Usage block split into its set-up and its attribution statements."""
    text = (ROOT / "README.md").read_text()
    usage = text.split("## Usage", 1)[1]
    block = re.search(r"```python\n(.*?)```", usage, re.DOTALL).group(1)
    setup, snippets = [], []
    for node in ast.parse(block).body:
        source = ast.get_source_segment(block, node)
        (snippets if ".attribute(" in source else setup).append(source)
    return "\n".join(setup), snippets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--limit-gb", type=float, default=3.0)
    parser.add_argument("--skip-tutorials", action="store_true")
    args = parser.parse_args()

    setup, snippets = readme_snippets()
    rows = [
        ("README set-up (imports, model, images)", *peak_rss([sys.executable, "-c", setup], ROOT))
    ]
    for snippet in snippets:
        code = setup + "\n" + snippet
        first_line = snippet.splitlines()[0].strip()
        rows.append((f"README: `{first_line}`", *peak_rss([sys.executable, "-c", code], ROOT)))
        print(rows[-1], flush=True)
    if not args.skip_tutorials:
        with tempfile.TemporaryDirectory() as out:
            for notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
                command = [
                    sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    "--ExecutePreprocessor.timeout=1200", "--output-dir", out, str(notebook),
                ]  # fmt: skip
                rows.append((f"tutorial {notebook.name}", *peak_rss(command, notebook.parent)))
                print(rows[-1], flush=True)

    lines = [
        "# Peak memory of the README and tutorial snippets",
        "",
        "Command: `" + " ".join(["python benchmarks/bench_memory.py", *sys.argv[1:]]) + "`",
        "",
        f"One run on {platform.machine()} ({os.cpu_count()} cores), Python "
        f"{sys.version.split()[0]}, on the CPU; EfficientNet-Lite0 and scikit-image's coffee "
        "photo, each snippet as written (the package's default `internal_batch_size`). Peak RSS "
        "of a fresh process (for a tutorial, its kernel) from `wait4`.",
        "",
        f"| snippet | peak RSS (GB) | under {args.limit_gb:g} GB | seconds | exit |",
        "|---|---|---|---|---|",
    ]
    for name, gb, seconds, status in rows:
        ok = "yes" if gb < args.limit_gb and status == 0 else "**no**"
        lines.append(f"| {name} | {gb:.2f} | {ok} | {seconds:.0f} | {status} |")
    text = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
