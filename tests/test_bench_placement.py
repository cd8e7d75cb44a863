"""The report behind benchmarks/results/placement.md: rows and costs to a tolerance, their ratio."""

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        for name in ("bench_convergence", "bench_placement"):
            spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules.setdefault(name, module)  # for their dataclasses
            spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_the_report_prices_the_first_pass_and_divides_the_costs(bench):
    # evenly spaced IG at 4/n, placed at 2/n: half the gradient rows, plus 33 forward rows
    steps = [8, 16, 32, 64, 128]
    variants = {
        "IG, evenly spaced (Gauss–Legendre)": 4.0,
        "IDGI(IG), evenly spaced": 8.0,
        "IG, placed (floor 0.5)": 2.0,
        "IDGI(IG), placed (floor 0.5)": 4.0,
    }
    errors = {v: [{s: c / s for s in steps}] * 3 for v, c in variants.items()}
    args = argparse.Namespace(probes=32)
    lines = bench.report(["a", "b", "c"], {"steps": steps, "errors": errors}, args)
    placed = next(line for line in lines if line.startswith("| IG, placed"))
    cells = [c.strip() for c in placed.strip("|").split("|")]
    # 5 %: 40 gradient rows, 40 + 11 in cost; 1 %: 200, ≈211 (extrapolated past 128 steps)
    assert cells[1:5] == ["40", "51", "≈200", "≈211"]
    assert cells[5] == f"{80 / 51:.2f}×" and cells[6] == f"{400 / 211:.2f}×"
    even = next(line for line in lines if line.startswith("| IG, evenly"))
    assert even.rstrip(" |").endswith("1.00× | 1.00×")


def test_the_smallest_configuration_is_refused_below_its_bounds(bench, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench_placement.py", "--reference-steps", "8"])
    with pytest.raises(SystemExit):
        bench.main()
    assert "powers of two" in capsys.readouterr().err


def test_runs_in_parts_combine_into_one_report(bench, tmp_path, monkeypatch, capsys):
    steps = [8, 16, 32]
    variants = ["IG, evenly spaced (Gauss–Legendre)", "IDGI(IG), evenly spaced"]
    variants += ["IG, placed (floor 0.5)", "IDGI(IG), placed (floor 0.5)"]
    for part, labels in (("a", ["x", "y"]), ("b", ["z"])):
        errors = {v: [{str(s): 1 / s for s in steps} for _ in labels] for v in variants}
        raw = {"Lite0": {"labels": labels, "steps": steps, "errors": errors}}
        (tmp_path / f"{part}.json").write_text(bench.json.dumps(raw))
    out = tmp_path / "placement.md"
    monkeypatch.setattr(
        sys, "argv", ["bench_placement.py", "--combine", str(tmp_path / "a.json"),
                      str(tmp_path / "b.json"), "--out", str(out)],
    )  # fmt: skip
    bench.main()
    text = out.read_text()
    assert "median over 3 inputs" in text
    assert all(f"| {label} |" in text for label in "xyz")
    assert "| 16 | 1.00 [1.00–1.00] | 1.00 [1.00–1.00] |" in text
