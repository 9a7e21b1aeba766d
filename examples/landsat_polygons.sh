#!/usr/bin/env bash
# Sparse hand-drawn polygons -> a land-cover map of the whole Landsat 8 sample.
# Four small polygons (water, crop, tree, developed; ~150-210 labelled pixels each) are all the
# labels there are, so chips are cut densely around them (--stride 16, --min-labelled 1) and split
# at random (with four polygons a spatial block split cannot hold every class in every split).
set -euo pipefail
DATA="$(python -c 'import terralearn.datasets.samples as s; print(s.sample_path("landsat8").parent)')"
OUT="${1:-landsat-example}"
mkdir -p "$OUT" && cd "$OUT"
terralearn prepare "$DATA/landsat8_sample.tif" --labels "$DATA/landsat8_sample_polygons.gpkg" \
  --class-column name --out store --chip-size 64 --stride 16 --min-labelled 1 --split random \
  --overwrite --quiet
terralearn train store --model unet_small --out run --epochs 40 --batch-size 16 --lr 3e-3 \
  --patience 0 --overwrite --quiet
terralearn predict run "$DATA/landsat8_sample.tif" prediction.tif --uncertainty --overwrite --quiet
python - <<'PY'
import rasterio
from terralearn.artifacts import RunDir
from terralearn.viz.colors import rgb_composite
from terralearn.viz.maps import plot_class_map

info = RunDir("run").info()
with rasterio.open("prediction.tif") as src:
    classes = src.read(1)
import terralearn

image = terralearn.open_image(str(terralearn.sample_path("landsat8")))
rgb = rgb_composite(image.values, [str(b) for b in image.band.values],
                    valid=terralearn.valid_mask(image).values)
print(plot_class_map(classes, info.classes, "prediction.png", title="Landsat 8 sample: U-Net from four polygons", rgb=rgb))
PY
