#!/usr/bin/env bash
# The GPU checks of one lent-GPU session (the `device` tool), prepared to run unattended in two calls:
#
#   benchmarks/gpu_session.sh check           # ~8 min on an H200 (461 s once; the per-step timeouts allow
#                                             #   more: trim SIZES on a slower card): training probe, golden
#                                             #   float64 on the GPU, benchmark tables (fp32, bf16), split
#                                             #   products off and torch.compile at 1024, a checkpointed
#                                             #   training step, precision on real photos, a profile
#   benchmarks/gpu_session.sh train STEPS S   # GPU fine-tune of the shipped weights ($CONFIG and $STAGE,
#                                             #   default configs/shipped.yaml stage gpu-next, which starts
#                                             #   from them; STAGE=stage3 INIT=<stage-2 weights> is stage 3;
#                                             #   STAGE= for a plain config) for STEPS steps, killed after
#                                             #   S s; then the new weights against the shipped ones (runs/
#                                             #   does not travel)
#
# Data comes from $GPU_DATA (default .device/, an ignored folder carried with the call): photos/clean (the
# training photos, `export_photos`), heldout/ (the five sporco photos) and golden/ (tiny_cases and
# tiny_weights of ../shared/golden). Results go to $OUT (default /tmp/gpu_out). The benchmarks run as modules
# (python3 -m benchmarks.GROUP.NAME) from the repository root; src/ is on PYTHONPATH for an uninstalled checkout.
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_out}
DATA=${GPU_DATA:-.device}
DEVICE=${DEVICE:-cuda}
SIZES=${SIZES:-256 512 1024 2048}
if [ -z "${CONFIG:-}" ]; then CONFIG=configs/shipped.yaml; STAGE=${STAGE-gpu-next}; fi
STAGE_ARGS=(); [ -n "${STAGE:-}" ] && STAGE_ARGS=(--stage "$STAGE")
mkdir -p "$OUT"
step_rate() {  # median train/step_seconds of a run's metrics.csv
  python3 - "$1" <<'PY'
import csv, glob, statistics, sys
rows = list(csv.DictReader(open(sorted(glob.glob(sys.argv[1] + "/logs/version_*/metrics.csv"))[-1])))
t = [float(r["train/step_seconds"]) for r in rows if r.get("train/step_seconds")]
print(f"median step {statistics.median(t):.4f} s over {len(t)} logged steps" if t else "no step times")
v = [(r["step"], r["val/psnr"]) for r in rows if r.get("val/psnr")]
print("val psnr by step:", v)
PY
}
case "${1:-}" in
check)
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
  python3 -c "import torch, lightning, numpy; print('torch', torch.__version__, 'lightning', lightning.__version__, 'numpy', numpy.__version__)"
  t0=$(date +%s)
  OMP_NUM_THREADS=1 timeout 150 python3 -m hogformer.cli train -c "$CONFIG" ${STAGE_ARGS[@]+"${STAGE_ARGS[@]}"} \
    --data-root "$DATA/photos" --output /tmp/probe --no-progress-bar ${PROBE_ARGS:-trainer.max_steps=80 trainer.val_every_steps=40} \
    > "$OUT/probe.log" 2>&1
  echo "## training probe: rc $? in $(( $(date +%s) - t0 )) s"; tail -3 "$OUT/probe.log"; step_rate /tmp/probe
  echo "## equivalence"
  timeout 120 python3 -m benchmarks.vs_official.device_equivalence --device "$DEVICE" --golden "$DATA/golden" | tee "$OUT/equivalence.md"
  echo "## bench fp32"
  timeout 240 python3 -m benchmarks.speed.bench_inference --device "$DEVICE" --sizes $SIZES --repeats 3 --low-memory \
    --timeout 90 | tee "$OUT/bench_fp32.md"
  echo "## bench bf16"
  timeout 120 python3 -m benchmarks.speed.bench_inference --device "$DEVICE" --sizes $SIZES --repeats 3 --low-memory \
    --precision bf16 --no-train --timeout 60 | tee "$OUT/bench_bf16.md"
  echo "## A/B at 1024: split row products off; torch.compile (compile seconds in the note)"
  timeout 60 python3 -m benchmarks.speed.bench_inference --device "$DEVICE" --sizes 1024 --repeats 3 --no-train \
    --no-split-products --timeout 50 | tee "$OUT/bench_ab.md"
  timeout 240 python3 -m benchmarks.speed.bench_inference --device "$DEVICE" --sizes 1024 --repeats 3 --no-train \
    --compile --timeout 230 | tee -a "$OUT/bench_ab.md"
  echo "## training step with activation checkpointing"
  timeout 150 python3 -m benchmarks.speed.bench_train --device "$DEVICE" --sizes 256x1,512x1 --no-small --steps 3 \
    --checkpointing | tee "$OUT/train_checkpointing.md"
  echo "## precision on the held-out photos"
  timeout 90 python3 -m benchmarks.quality.bench_precision --device "$DEVICE" --photos "$DATA/heldout" \
    --precisions fp32 bf16 ${PRECISION_EXTRA-fp16} ${PRECISION_ARGS:-} | tee "$OUT/precision.md"
  echo "## profile"
  timeout 60 python3 -m benchmarks.speed.profile_forward --device "$DEVICE" --size ${PROFILE_SIZE:-1024} > "$OUT/profile.txt" 2>&1
  head -25 "$OUT/profile.txt"
  echo "## done in $(( $(date +%s) - t0 )) s"
  ;;
train)
  steps=$2; limit=$3
  t0=$(date +%s)
  OMP_NUM_THREADS=1 timeout "$limit" python3 -m hogformer.cli train -c "$CONFIG" ${STAGE_ARGS[@]+"${STAGE_ARGS[@]}"} \
    --data-root "$DATA/photos" --output /tmp/run --no-progress-bar "trainer.max_steps=$steps" "schedule.total=$steps" \
    ${INIT:+"init=$INIT"} ${TRAIN_ARGS:-} > "$OUT/train.log" 2>&1
  echo "## training: rc $? in $(( $(date +%s) - t0 )) s"; tail -3 "$OUT/train.log"; step_rate /tmp/run
  cp /tmp/run/final.safetensors /tmp/run/best.safetensors /tmp/run/config.yaml "$OUT/" 2>/dev/null
  cp /tmp/run/logs/version_*/metrics.csv "$OUT/" 2>/dev/null
  ls -la "$OUT"
  w=(default); for f in final best; do [ -f "$OUT/$f.safetensors" ] && w+=("$OUT/$f.safetensors"); done
  timeout 120 python3 -m benchmarks.quality.compare_weights "${w[@]}" --device "$DEVICE" --photos "$DATA/heldout" \
    ${COMPARE_ARGS:-} | tee "$OUT/compare.md"
  echo "## done in $(( $(date +%s) - t0 )) s"
  ;;
*)
  echo "usage: $0 check | train STEPS SECONDS" >&2; exit 2
  ;;
esac
