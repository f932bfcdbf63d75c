#!/usr/bin/env bash
# One GPU session, prepared to run unattended on a server with torch, numpy, scipy and
# h5py only (no GDAL, no QGIS):
#   1. bench/gpu_inference.py  - tiled PanTiny inference on a generated scene, fp32 vs bf16
#   2. bench/train_throughput.py - training samples/s of every model, fp32 vs bf16
#   3. training.replicate - single-dataset vs multiple-in-one for 4 model families, all
#      16 runs at once on the GPU, the same wall-clock budget each (FR scored later)
#   4. two candidates for the default model (pantiny_default_gpu.yaml, plain and balanced)
# Needs the training patches (python -m training.build_datasets --out .run/datasets/dev32;
# the fr_test folder is not needed).  Work happens in $WORK; $OUT receives at most six
# files (two JSONs, three .tgz, steps.txt) so that they fit a transfer of few files.
#
#   OUT=/tmp/session bash bench/gpu_session.sh
#   DEVICE=cpu SIZE=512 BUDGET=20 JOBS=4 OUT=/tmp/dry bash bench/gpu_session.sh   # dry run
#
# Results under $OUT; bring back bench JSONs into bench/, then
#   python -m training.replicate --rescore --out <OUT>/replicate ...  (see training/README.md)
set -u
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-8192}          # generated scene edge for the inference bench (PAN px)
BUDGET=${BUDGET:-240}       # seconds of training per run
JOBS=${JOBS:-16}
MODELS=${MODELS:-pantiny pnn pannet msdcnn}
DATA=${DATA:-.run/datasets/dev32}
DEFAULT_DATA=${DEFAULT_DATA:-$DATA}
PARTS=${PARTS:-bench replicate default}   # any of: bench profile replicate default
OUT=${OUT:?set OUT to a folder for the results}
WORK=${WORK:-/tmp/gpu_session_work}
mkdir -p "$OUT" "$WORK"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
pack() {
  find "$WORK" -name training_state.pt -delete
  (cd "$WORK" && tar czf "$OUT/logs.tgz" env.txt ./*.log 2>/dev/null)
  (cd "$WORK" && tar czf "$OUT/replicate.tgz" replicate/results.json replicate/*/latest.ckpt \
      replicate/*/train.log replicate/*/history.json 2>/dev/null)
  (cd "$WORK" && tar czf "$OUT/default.tgz" default_balanced_* 2>/dev/null)
  cp "$WORK"/*.json "$OUT"/ 2>/dev/null
  cp "$WORK/steps.txt" "$OUT"/ 2>/dev/null
  ls -la "$OUT" >> "$OUT/steps.txt"
}
trap pack EXIT
export OMP_NUM_THREADS=1

{ date -u; nvidia-smi 2>&1 | head -15; nproc --all
  $PY -c "import sys, torch, numpy, h5py, yaml; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
} > "$WORK/env.txt" 2>&1

t0=$(date +%s)
has() { [[ " $PARTS " == *" $1 "* ]]; }
if has bench; then
  timeout 90 $PY bench/gpu_inference.py --device "$DEVICE" --size "$SIZE" \
      --out "$WORK/gpu_inference.json" > "$WORK/gpu_inference.log" 2>&1
  echo "gpu_inference rc $? after $(( $(date +%s) - t0 )) s" >> "$WORK/steps.txt"
  timeout 80 $PY bench/train_throughput.py --device "$DEVICE" --min-seconds 1.5 \
      --out "$WORK/train_throughput_gpu.json" > "$WORK/train_throughput.log" 2>&1
  echo "train_throughput rc $? after $(( $(date +%s) - t0 )) s" >> "$WORK/steps.txt"
fi
if has profile; then
  timeout 45 $PY bench/gpu_profile.py --out "$WORK/gpu_profile.json" > "$WORK/gpu_profile.log" 2>&1
  echo "gpu_profile rc $? after $(( $(date +%s) - t0 )) s" >> "$WORK/steps.txt"
fi

limit=${LIMIT:-$(( BUDGET + 120 ))}
if has replicate; then
  timeout $limit $PY -m training.replicate --models $MODELS --epochs 5000 \
      --max-seconds "$BUDGET" --jobs "$JOBS" --crop 0 --augment --no-fr --checkpoint-every 25 \
      --device "$DEVICE" --data-root "$DATA" --out "$WORK/replicate" > "$WORK/replicate.log" 2>&1 &
fi
if has default; then
  for bal in false true; do
    timeout $limit $PY -m training.train training/configs/pantiny_default_gpu.yaml \
        --device "$DEVICE" --data-root "$DEFAULT_DATA" --out "$WORK/default_balanced_$bal" \
        --no-progress --set balanced=$bal --set max_seconds="$BUDGET" \
        > "$WORK/default_balanced_$bal.log" 2>&1 &
  done
fi
wait
echo "training done after $(( $(date +%s) - t0 )) s" >> "$WORK/steps.txt"
