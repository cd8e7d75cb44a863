"""Bad data and bad command lines: the sibling of ``tests/test_bad_inputs.py`` for what users
bring from outside the API's arguments.

- **Data sets** for ``evaluate_methods``: torchvision's ``(image, label)`` items explain their
  labels; dict items; and every ambiguous item (a pair whose second element is neither an int
  label nor a mask, another length, other keys, a mask of other pixels, fields that change from
  item to item, a label out of range) and every metric that does not give one score per image
  is refused with an error naming ``dataset`` or ``metrics``.
- **Models with one output**: every metric that compares classes (softmax or argmax) refuses
  them naming ``forward_func``, directly and through the evaluation adapters; AUPC, which
  reads the raw output, keeps working.
- **Image files** of every mode Pillow writes, in every format that writes it: the content
  comes back up to the documented scaling, or a ``ValueError`` says why not.
- **The command line**: every mistake ends in one line on stderr and exit status 2, before any
  attribution is computed.

hypothesis draws the bad values; run with ``-s`` to print how many cases were tried.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import io
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import torch
from captum.attr import Saliency
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from torch import Tensor, nn

from captum_smooth import examples
from captum_smooth.cli import main
from captum_smooth.cli.arguments import MIN_SIZE
from captum_smooth.evaluation import Method, evaluate_methods
from captum_smooth.evaluation.adapters import aupc_metric, insertion_metric, pic_metric
from captum_smooth.metrics import aic, aupc, autvc, deletion, insertion, sic
from captum_smooth.metrics.text import token_deletion, token_insertion

TRIED: collections.Counter[str] = collections.Counter()
CLASSES = 4
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module", autouse=True)
def _report_how_many_cases_were_tried():
    yield
    print(
        f"\nbad data and command lines: {len(TRIED)} kinds of case, "
        f"{sum(TRIED.values())} cases tried"
    )


# ---------------------------------------------------------------- data sets


class Net(nn.Module):
    """``width`` outputs from ``3×8×8`` images; class 1 is never the top-1 of these images."""

    def __init__(self, width: int = CLASSES) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3 * 8 * 8, width)
        with torch.no_grad():
            self.linear.bias.zero_()
            if width > 1:
                self.linear.bias[1] = -100.0

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.flatten(1))


def _images(n: int = 3, dtype: torch.dtype = torch.float32) -> list[Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.rand(3, 8, 8, generator=generator).to(dtype) for _ in range(n)]


def _share(model, images, attributions, targets) -> Tensor:
    return (attributions > 0).flatten(1).double().mean(1)


def _evaluate(dataset: Any, metrics: dict | None = None, **kwargs: Any):
    return evaluate_methods(
        Net(),
        dataset,
        [Method("saliency", Saliency, {"abs": False})],
        metrics or {"share": _share},
        batch_size=2,
        **kwargs,
    )


LABEL_FORMS = {
    "int": int,
    "numpy int": np.int64,
    "0-d integer tensor": lambda label: torch.tensor(label),
}


@pytest.mark.parametrize("form", LABEL_FORMS, ids=list(LABEL_FORMS))
@pytest.mark.parametrize("container", ["tuple", "list", "dict"])
def test_labelled_items_explain_their_labels_not_the_top1_class(form: str, container: str):
    TRIED["labelled items"] += 1
    labels = [1, 1, 1]  # class 1 is never the model's top-1
    make = LABEL_FORMS[form]
    items = {
        "tuple": [(image, make(label)) for image, label in zip(_images(), labels, strict=True)],
        "list": [[image, make(label)] for image, label in zip(_images(), labels, strict=True)],
        "dict": [
            {"image": image, "label": make(label)}
            for image, label in zip(_images(), labels, strict=True)
        ],
    }[container]
    result = _evaluate(items)
    assert result.targets.tolist() == labels
    # the attributions are those of the labels' class, not of the top-1 class
    images = torch.stack(_images())
    expected = (Saliency(Net()).attribute(images, target=1, abs=False) > 0).flatten(1).double()
    torch.testing.assert_close(result.scores["saliency", "share"], expected.mean(1))


def test_a_target_function_decides_even_where_the_items_have_labels():
    TRIED["target over labels"] += 1
    items = [(image, 1) for image in _images()]
    result = _evaluate(items, target=lambda outputs: outputs.argmax(1))
    with torch.no_grad():
        top1 = Net()(torch.stack(_images())).argmax(1)
    assert torch.equal(result.targets, top1)
    assert not (result.targets == 1).any()


def _bad_second_elements() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.floats(allow_nan=True),
        st.booleans(),
        st.text(max_size=3),
        st.none(),
        st.integers(1, 5).map(lambda n: torch.zeros(n)),  # one-hot or scores: 1-D
        st.floats(-10, 10).map(lambda v: torch.tensor(v)),  # a float 0-d tensor
        st.just(torch.tensor(True)),
    )


def _item_variants() -> dict[str, st.SearchStrategy[list[Any]]]:
    images = _images()

    def replace(position: int, item: Any) -> list[Any]:
        items: list[Any] = [(image, 0) for image in images]
        items[position % len(items)] = item
        return items

    position = st.integers(0, len(images) - 1)
    return {
        "a pair's second element is neither a label nor a mask": st.tuples(
            position, _bad_second_elements()
        ).map(lambda p_v: replace(p_v[0], (images[0], p_v[1]))),
        "a tuple of another length": st.tuples(position, st.sampled_from([0, 3, 4])).map(
            lambda p_n: replace(p_n[0], (images[0], 0, torch.ones(8, 8), 0)[: p_n[1]])
        ),
        "a dict without 'image' or with other keys": st.tuples(
            position,
            st.sampled_from(
                [
                    {"img": images[0], "label": 0},
                    {"image": images[0], "target": 0},
                    {"image": images[0], "label": 0, "masks": torch.ones(8, 8)},
                    {"label": 0},
                ]
            ),
        ).map(lambda p_d: replace(p_d[0], p_d[1])),
        "a mask of other pixels": st.tuples(st.integers(1, 12), st.integers(1, 12), st.booleans())
        .filter(lambda h_w_c: (h_w_c[0], h_w_c[1]) != (8, 8))
        .map(
            lambda h_w_c: [
                (image, torch.ones((1,) * h_w_c[2] + (h_w_c[0], h_w_c[1]))) for image in images
            ]
        ),
        "fields that change from item to item": st.tuples(
            st.integers(1, len(images) - 1),
            st.sampled_from(["bare", "mask", "dict with both", "dict with mask"]),
        ).map(
            lambda p_f: replace(
                p_f[0],
                {
                    "bare": images[0],
                    "mask": (images[0], torch.ones(8, 8)),
                    "dict with both": {"image": images[0], "label": 0, "mask": torch.ones(8, 8)},
                    "dict with mask": {"image": images[0], "mask": torch.ones(8, 8)},
                }[p_f[1]],
            )
        ),
        "a label out of range": st.tuples(
            position, st.one_of(st.integers(CLASSES, 10**6), st.integers(-(10**6), -1))
        ).map(lambda p_l: replace(p_l[0], (images[0], p_l[1]))),
        "an image that is not a C×H×W float tensor": st.tuples(
            position,
            st.sampled_from(
                [np.zeros((3, 8, 8), np.float32), torch.zeros(8, 8), torch.zeros(3, 8, 8).long()]
            ),
        ).map(lambda p_i: replace(p_i[0], (p_i[1], 0))),
    }


ITEM_VARIANTS = _item_variants()


@pytest.mark.parametrize("variant", ITEM_VARIANTS, ids=list(ITEM_VARIANTS))
@given(data=st.data())
def test_an_ambiguous_or_wrong_item_is_refused_naming_the_dataset(variant: str, data):
    items = data.draw(ITEM_VARIANTS[variant], label="dataset")
    TRIED[f"dataset: {variant}"] += 1
    with pytest.raises((ValueError, TypeError), match="`dataset`"):
        _evaluate(items)


@settings(max_examples=max(1, settings.default.max_examples // 2))
@given(
    shape=st.sampled_from([(), (1,), (3,), (1, 1), (2, 2), (4, 1)]),
    curve=st.booleans(),
)
def test_a_metric_without_one_score_per_image_is_refused(shape: tuple[int, ...], curve: bool):
    # batches of 2 images, and a last batch of 1: any other count is not one score per image

    def per_batch(model, images, attributions, targets):
        return torch.zeros(shape)

    def curve_per_batch(model, images, attributions, targets):
        from captum_smooth.evaluation.adapters import Scored

        return Scored(torch.zeros(images.shape[0]), torch.zeros(shape or (1,)))

    metric = curve_per_batch if curve else per_batch
    if curve and shape and shape[0] in (1, 2):
        return  # a (2, …) or (1, …) curve may be right for one of the batches: not generated
    TRIED["metrics: not one score per image"] += 1
    with pytest.raises(ValueError, match="`metrics`"):
        _evaluate(_images(3), {"bad": metric})


# ---------------------------------------------------------------- models with one output


def _pic_images() -> Tensor:
    generator = torch.Generator().manual_seed(2)
    return torch.rand(2, 3, 16, 16, generator=generator)


class TokenNet(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def forward(self, ids: Tensor) -> Tensor:
        return ids.float().sum(1, keepdim=True).expand(-1, self.width) * 0.01


CLASS_METRICS: dict[str, Callable[[nn.Module], Any]] = {
    "insertion": lambda m: insertion(m, _pic_images(), _pic_images(), n_steps=4),
    "deletion": lambda m: deletion(m, _pic_images(), _pic_images(), n_steps=4),
    "sic": lambda m: sic(m, _pic_images(), _pic_images(), generator=torch.Generator()),
    "aic": lambda m: aic(m, _pic_images(), _pic_images(), generator=torch.Generator()),
    "insertion_metric": lambda m: insertion_metric(n_steps=4)(
        m, _pic_images(), _pic_images(), torch.zeros(2, dtype=torch.long)
    ),
    "pic_metric": lambda m: pic_metric("sic")(
        m, _pic_images(), _pic_images(), torch.zeros(2, dtype=torch.long), cache={}
    ),
}
TOKEN_METRICS = {"token_deletion": token_deletion, "token_insertion": token_insertion}


class ImageNet(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3 * 16 * 16, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.flatten(1))


@pytest.mark.parametrize("name", [*CLASS_METRICS, *TOKEN_METRICS])
@settings(max_examples=max(1, settings.default.max_examples // 5))
@given(scale=st.floats(-100, 100))
def test_a_metric_that_compares_classes_refuses_a_model_with_one_output(name: str, scale: float):
    TRIED[f"one output: {name}"] += 1
    with pytest.raises(ValueError, match="`forward_func` returns one output"):
        if name in TOKEN_METRICS:
            ids = torch.tensor([[5, 7, 9, 11]])
            TOKEN_METRICS[name](TokenNet(1), ids * int(abs(scale) + 1), torch.rand(1, 4),
                                baselines=0)  # fmt: skip
        else:
            net = ImageNet(1)
            with torch.no_grad():
                net.linear.weight.mul_(scale)
            CLASS_METRICS[name](net)


def test_aupc_reads_the_raw_output_and_takes_a_model_with_one_output():
    TRIED["one output: aupc"] += 1
    images = _pic_images()
    result = aupc(ImageNet(1), images, images, window_size=4, n_steps=3, n_candidates=2,
                  generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert torch.isfinite(result.score).all()
    scored = aupc_metric(window_size=4, n_steps=2, n_candidates=2)(
        ImageNet(1), images, images, torch.zeros(2, dtype=torch.long)
    )
    assert torch.isfinite(scored.score).all()


# ---------------------------------------------------------------- image files

RAMP = np.tile(np.arange(256, dtype=np.uint8), (4, 1))  # every grey level, 4 rows
TRANSLUCENT = (np.arange(256 * 4).reshape(4, 256) % 7 * 40 + 15).astype(np.uint8)


def _grey(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels[..., None], 3, axis=-1)


def _colour() -> np.ndarray:
    """Smooth colours (lossy formats keep them): red across, green down, blue against red."""
    columns = np.arange(256, dtype=np.uint8)
    red = np.tile(columns, (4, 1))
    green = np.repeat(np.array([0, 80, 160, 240], dtype=np.uint8)[:, None], 256, axis=1)
    return np.stack([red, green, 255 - red], axis=-1)


# mode → (the image, the RGB it must read back as, the largest difference allowed: Pillow's
# own conversion where it is lossy (palette, YCbCr and LAB round trips))
MODES: dict[str, Callable[[], tuple[Image.Image, np.ndarray, int]]] = {
    "1": lambda: (Image.fromarray(RAMP >= 128).convert("1"), _grey((RAMP >= 128) * 255), 0),
    "L": lambda: (Image.fromarray(RAMP), _grey(RAMP), 0),
    "LA": lambda: (Image.fromarray(np.stack([RAMP, TRANSLUCENT], -1), "LA"), _grey(RAMP), 0),
    "P": lambda: (Image.fromarray(_colour()).quantize(256), None, 0),
    "RGB": lambda: (Image.fromarray(_colour()), _colour(), 0),
    "RGBA": lambda: (
        Image.fromarray(np.concatenate([_colour(), TRANSLUCENT[..., None]], -1), "RGBA"),
        _colour(),
        0,
    ),
    "CMYK": lambda: (Image.fromarray(_colour()).convert("CMYK"), _colour(), 0),
    "YCbCr": lambda: (Image.fromarray(_colour()).convert("YCbCr"), _colour(), 3),
    "LAB": lambda: (Image.fromarray(_colour()).convert("LAB"), _colour(), 40),
    "I;16": lambda: (Image.fromarray(RAMP.astype(np.uint16) * 257), _grey(RAMP), 0),
    "I;16B": lambda: (
        Image.frombytes("I;16B", (256, 4), (RAMP.astype(">u2") * 257).tobytes()),
        _grey(RAMP),
        0,
    ),
    "I": lambda: (Image.fromarray(RAMP.astype(np.int32) * 257), _grey(RAMP), 0),
    "F": lambda: (Image.fromarray(RAMP.astype(np.float32) / 255), _grey(RAMP), 0),
}
FORMATS = ("PNG", "TIFF", "BMP", "PPM", "TGA", "WEBP", "JPEG", "GIF", "SGI", "PCX", "QOI")
LOSSY = ("WEBP", "JPEG", "GIF")


def _written(mode: str) -> list[tuple[str, str, str]]:
    """``(mode, format, mode read back)`` for every format Pillow writes ``mode`` in."""
    image, _, _ = MODES[mode]()
    written = []
    for fmt in FORMATS:
        buffer = io.BytesIO()
        try:
            image.save(buffer, fmt)
            buffer.seek(0)
            with Image.open(buffer) as read:
                if mode[0] in "IF" and read.mode[0] not in "IF":
                    continue  # the writer clipped the deep pixels: the file holds no more
                written.append((mode, fmt, read.mode))
        except (OSError, ValueError, KeyError):
            continue
    return written


WRITTEN = [case for mode in MODES for case in _written(mode)]


@pytest.mark.parametrize(("mode", "fmt", "read_mode"), WRITTEN, ids=lambda v: str(v))
def test_every_mode_pillow_writes_keeps_its_content(tmp_path: Path, mode, fmt, read_mode):
    TRIED[f"image file: {mode} as {fmt}"] += 1
    image, expected, tolerance = MODES[mode]()
    path = tmp_path / f"image.{fmt.lower()}"
    image.save(path, fmt)
    pixels = examples.read_image(path)
    assert pixels.shape == (4, 256, 3) and pixels.dtype == np.uint8
    if expected is None:  # a palette image: its colours are the palette's
        expected = np.asarray(image.convert("RGB"))
    difference = np.abs(pixels.astype(int) - expected.astype(int))
    if fmt in LOSSY:  # compressed or quantised: close on average (a white image is ~128 off)
        assert difference.mean() <= 24, (mode, fmt, read_mode, difference.mean())
    else:
        assert difference.max() <= tolerance, (mode, fmt, read_mode, difference.max())


def _ycbcr_tiff(path: Path, layout: str) -> np.ndarray:
    """Write MODES["YCbCr"]'s image as an uncompressed TIFF; return the RGB it must read as.

    ``contiguous``: Y, Cb, Cr of a pixel together, as Pillow writes it; ``planes``: a plane
    each (TIFF's PlanarConfiguration 2), as tifffile writes it and Pillow does not.
    """
    image, expected, _ = MODES["YCbCr"]()
    if layout == "contiguous":
        image.save(path, "TIFF")
    else:
        planes = np.moveaxis(np.asarray(image), -1, 0)
        tifffile.imwrite(path, planes, photometric="ycbcr", planarconfig="separate")
    return expected


@pytest.mark.parametrize("layout", ["contiguous", "planes"])
def test_an_uncompressed_ycbcr_tiff_keeps_its_colours_where_pillow_reads_it_as_rgbx(
    tmp_path: Path, monkeypatch, layout
):
    """Pillow before 13 opens it as RGB and decodes RGBX pixels, or the planes as R, G and B.

    Pillow 13 reads the first and refuses the second (below): its older table entry is put
    back so that every Pillow runs both cases.
    """
    from PIL import TiffImagePlugin

    key = (TiffImagePlugin.II, 6, (1,), 1, (8, 8, 8), ())  # little-endian, as both write
    monkeypatch.setitem(TiffImagePlugin.OPEN_INFO, key, ("RGB", "RGBX"))
    path = tmp_path / "image.tiff"
    expected = _ycbcr_tiff(path, layout)
    pixels = examples.read_image(path)
    assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= MODES["YCbCr"]()[2]


@pytest.mark.parametrize("layout", ["contiguous", "planes"])
def test_an_uncompressed_ycbcr_tiff_is_read_with_its_colours_or_refused(tmp_path: Path, layout):
    """Whichever Pillow is installed: never Y, Cb and Cr read as red, green and blue.

    Pillow 13 refuses YCbCr planes ("unknown raw mode"); before 13, read_image decodes them.
    """
    path = tmp_path / "image.tiff"
    expected = _ycbcr_tiff(path, layout)
    try:
        pixels = examples.read_image(path)
    except ValueError as error:
        assert layout == "planes" and str(path) in str(error), error
        return
    assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= MODES["YCbCr"]()[2]


@given(
    low=st.floats(-1e6, 1e6, allow_nan=False),
    spread=st.floats(0, 1e6),
    kind=st.sampled_from(["F", "I"]),
)
def test_deep_pixels_of_unknown_scale_are_refused(tmp_path_factory, low, spread, kind):
    high = low + spread
    if kind == "I":
        low, high = math.floor(low), math.ceil(high)
    # the scale is judged on the values stored (float32 rounds -1e-139 to -0.0, in [0, 1])
    values = (
        np.linspace(low, high, 16).reshape(4, 4).astype(np.float32 if kind == "F" else np.int32)
    )
    if 0 <= values.min() and values.max() <= (1 if kind == "F" else 65535):
        return
    TRIED[f"image file: {kind} out of scale"] += 1
    image = Image.fromarray(values)
    path = tmp_path_factory.mktemp("deep") / "image.tiff"
    image.save(path)
    with pytest.raises(ValueError, match="cannot read image"):
        examples.read_image(path)


@contextlib.contextmanager
def _recorded_resizes() -> Iterator[list[int]]:
    """The pixels of every resize ``to_tensor`` asks for; a huge one is refused, not run."""
    from captum_smooth.examples import images as module

    sizes: list[int] = []
    functional = module.F

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            return getattr(functional, name)

        def interpolate(self, x: Tensor, size: Any = None, **kwargs: Any) -> Tensor:
            pixels = math.prod(size) if isinstance(size, tuple) else size**2
            sizes.append(pixels)
            if pixels > 10**6:
                raise MemoryError(f"to_tensor resized to {size} before cropping")
            return functional.interpolate(x, size=size, **kwargs)

    module.F = Recorder()
    try:
        yield sizes
    finally:
        module.F = functional


@settings(max_examples=max(1, settings.default.max_examples // 5))
@given(height=st.integers(1, 4), width=st.integers(1000, 50000), tall=st.booleans())
def test_a_long_image_is_cropped_before_it_is_resized(height, width, tall):
    TRIED["image: long and thin"] += 1
    shape = (width, height, 3) if tall else (height, width, 3)
    with _recorded_resizes() as sizes:
        x = examples.to_tensor(np.full(shape, 128, np.uint8), 32)
    assert x.shape == (1, 3, 32, 32)
    assert sizes and max(sizes) <= 32 * 32


# ---------------------------------------------------------------- the command line


class _Tuple(nn.Module):
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logits = x.mean(dim=(2, 3)).repeat(1, 4)
        return logits, logits


class _OneChannel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x).mean(dim=(2, 3))


class _Width(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(1, 2, 3))[:, None].repeat(1, self.width)


class _Vector(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(1, 2, 3))


class _NaN(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3)) * float("nan")


BAD_MODELS = {
    "returns a tuple": _Tuple,
    "takes one channel": _OneChannel,
    "returns one value per image, not a row": _Vector,
    "returns NaN": _NaN,
}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    files = {}
    for name, make in {**BAD_MODELS, "one output": lambda: _Width(1)}.items():
        path = folder / f"{len(files)}.pt"
        channels = 1 if name == "takes one channel" else 3
        torch.jit.trace(make(), torch.rand(1, channels, 32, 32), check_trace=False).save(str(path))
        files[name] = path
    return files


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("captum-smooth: error: "), captured.err
    assert "Traceback" not in captured.err
    assert "AUTVC" not in captured.out, "an attribution was computed before the error"
    return lines[0]


QUIET = ["--no-progress", "--n-steps", "2", "--n-samples", "2", "--method", "ig"]


@pytest.mark.parametrize("model", BAD_MODELS, ids=list(BAD_MODELS))
def test_a_model_the_command_cannot_use_is_one_line_before_any_method_runs(
    model: str, model_files, tmp_path: Path, capsys
):
    TRIED[f"cli: a model that {model}"] += 1
    out = tmp_path / "x.png"
    argv = ["explain", "--model", str(model_files[model]), "--out", str(out), *QUIET]
    line = _one_line_exit_2(argv, capsys)
    assert "model" in line
    assert not out.exists()


def test_a_model_with_one_output_is_explained_and_refused_only_for_metrics(
    model_files, tmp_path: Path, capsys
):
    TRIED["cli: one output"] += 2
    out = tmp_path / "x.png"
    argv = ["explain", "--model", str(model_files["one output"]), "--out", str(out), *QUIET]
    line = _one_line_exit_2([*argv, "--metrics"], capsys)
    assert "--metrics" in line
    assert main([*argv, "--size", "32"]) == 0
    assert "output" in capsys.readouterr().out


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(size=st.integers(1, MIN_SIZE - 1))
def test_a_size_below_autvcs_smallest_level_is_refused_before_the_model_loads(
    size: int, model_files, capsys
):
    TRIED["cli: --size too small"] += 1
    line = _one_line_exit_2(
        ["explain", "--model", str(model_files["one output"]), "--size", str(size), *QUIET],
        capsys,
    )
    assert "--size" in line


def test_min_size_is_autvcs():
    import inspect

    assert MIN_SIZE == inspect.signature(autvc).parameters["min_size"].default


UNWRITABLE = [
    "/proc/captum-smooth-explanation.png",
    "/proc/self/captum-smooth.png",
    "/sys/captum-smooth.png",
]


@pytest.mark.parametrize("out", UNWRITABLE)
@pytest.mark.parametrize("command", ["explain", "explain-text"])
def test_an_unwritable_out_is_refused_before_anything_runs(out, command, model_files, capsys):
    TRIED[f"cli: unwritable --out for {command}"] += 1
    if command == "explain":
        argv = ["explain", "--model", str(model_files["one output"]), "--out", out, *QUIET]
    else:
        argv = ["explain-text", "a fine day", "--out", out]
    line = _one_line_exit_2(argv, capsys)
    assert "--out" in line and "cannot be written" in line


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    message=st.text(min_size=1, max_size=40).filter(lambda s: s.strip()),
    error=st.sampled_from([ValueError, TypeError]),
)
def test_any_value_or_type_error_of_the_package_is_one_line(message, error, capsys):
    TRIED["cli: an error raised while computing"] += 1
    from captum_smooth.cli import explain

    def run(request):
        raise error(f"`forward_func` must return a tensor\n{message}")

    patch = pytest.MonkeyPatch()
    patch.setattr(explain, "run", run)
    try:
        line = _one_line_exit_2(["explain", "--no-progress"], capsys)
    finally:
        patch.undo()
    assert "`forward_func`" in line


@settings(
    max_examples=max(1, settings.default.max_examples // 5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(height=st.integers(1, 3), width=st.integers(1500, 4000))
def test_a_long_thin_image_file_is_explained_without_resizing_it_whole(
    height, width, model_files, tmp_path_factory, capsys
):
    TRIED["cli: a long thin image"] += 1
    folder = tmp_path_factory.mktemp("long")
    image = folder / "line.png"
    Image.fromarray(np.full((height, width, 3), 200, np.uint8)).save(image)
    out = folder / "x.png"
    argv = ["explain", str(image), "--model", str(model_files["one output"]), "--size", "32"]
    assert main([*argv, "--out", str(out), *QUIET]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert out.exists()


# ---------------------------------------------------------------- results say what ran


def _paper_tables():
    spec = importlib.util.spec_from_file_location(
        "paper_tables", ROOT / "benchmarks" / "paper_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("paper_tables", module)
    spec.loader.exec_module(module)
    return module


def test_each_smoothtaylor_label_names_the_samples_it_ran_with():
    tables = _paper_tables()
    for preset, p in tables.PRESETS.items():
        TRIED["results: preset labels"] += 1
        for method in tables.smoothtaylor_methods(p, 0):
            if method.name.startswith("ST σ="):
                sigma, r = method.name.removeprefix("ST σ=").split(" R=")
                assert float(sigma) == method.kwargs["noise_scale"], preset
                assert int(r) == method.kwargs["n_samples"], (preset, method.name)


def test_the_stored_medium_results_label_the_samples_that_ran():
    TRIED["results: stored labels"] += 1
    text = (ROOT / "benchmarks" / "results" / "paper_tables_medium.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ST σ=")]
    assert rows and all(" R=24 |" in row.split("|", 2)[1] + "|" for row in rows), rows
    assert "'st_samples': [24]" in text
    assert "lower than ST σ=0.5 R=200" not in text


def test_the_readme_lists_every_tutorial():
    TRIED["results: README tutorials"] += 1
    readme = (ROOT / "README.md").read_text()
    for notebook in sorted((ROOT / "tutorials").glob("*.ipynb")):
        assert f"(tutorials/{notebook.name})" in readme.split("## Tutorials", 1)[1], notebook
