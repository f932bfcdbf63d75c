#!/usr/bin/env bash
# One GPU session, prepared to run unattended on a server with torch, numpy, scipy and
# h5py only (no GDAL, no QGIS):
#   1. bench/gpu_inference.py  - tiled PanTiny inference on a generated scene, fp32 vs bf16
#   2. bench/train_throughput.py - training samples/s of every model, fp32 vs bf16
#   3. training.replicate - single-dataset vs multiple-in-one for 4 model families, all
#      16 runs at once on the GPU, the same wall-clock budget each (FR scored later)
#   4. two candidates for the default model (pantiny_default_gpu.yaml, plain and balanced)
# Needs the training patches (python -m training.build_datasets --out .run/datasets/dev32)
# and, where PyYAML is missing, a pure-Python copy of it in .run/pylib/yaml.
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
DATA=${DATA:-.run/datasets/dev32}
OUT=${OUT:?set OUT to a folder for the results}
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$PWD/.run/pylib${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=1

{ date -u; nvidia-smi 2>&1 | head -15; nproc --all
  $PY -c "import sys, torch, numpy, h5py, yaml; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
} > "$OUT/env.txt" 2>&1

t0=$(date +%s)
timeout 90 $PY bench/gpu_inference.py --device "$DEVICE" --size "$SIZE" \
    --out "$OUT/gpu_inference.json" > "$OUT/gpu_inference.log" 2>&1
echo "gpu_inference rc $? after $(( $(date +%s) - t0 )) s" >> "$OUT/steps.txt"
timeout 80 $PY bench/train_throughput.py --device "$DEVICE" --min-seconds 1.5 \
    --out "$OUT/train_throughput_gpu.json" > "$OUT/train_throughput.log" 2>&1
echo "train_throughput rc $? after $(( $(date +%s) - t0 )) s" >> "$OUT/steps.txt"

limit=$(( BUDGET + 120 ))
timeout $limit $PY -m training.replicate --models pantiny pnn pannet msdcnn --epochs 5000 \
    --max-seconds "$BUDGET" --jobs "$JOBS" --crop 0 --augment --no-fr --checkpoint-every 25 \
    --device "$DEVICE" --data-root "$DATA" --out "$OUT/replicate" > "$OUT/replicate.log" 2>&1 &
for bal in false true; do
  timeout $limit $PY -m training.train training/configs/pantiny_default_gpu.yaml \
      --device "$DEVICE" --data-root "$DATA" --out "$OUT/default_balanced_$bal" --no-progress \
      --set balanced=$bal --set max_seconds="$BUDGET" > "$OUT/default_balanced_$bal.log" 2>&1 &
done
wait
echo "training done after $(( $(date +%s) - t0 )) s" >> "$OUT/steps.txt"
# optimiser states are not needed back
find "$OUT" -name training_state.pt -delete
du -sh "$OUT" >> "$OUT/steps.txt"
