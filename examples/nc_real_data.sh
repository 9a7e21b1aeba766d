#!/usr/bin/env bash
# The real-data walk-through of the README on the North Carolina Landsat 7 scene (GRASS sample
# data, GPL: read from ../shared/data/real, never copied), with default options only:
# prepare -> info -> train -> evaluate -> predict, then a figure of the map as QGIS shows it
# (the codes, colour table and category names written by predict).
set -euo pipefail
NC="$(cd "${NC_DATA:-$(dirname "$0")/../../shared/data/real/nc}" && pwd)"
OUT="${1:-nc-example}"
mkdir -p "$OUT" && cd "$OUT"
terralearn prepare "$NC/landsat_multiband.tif" --labels "$NC/strata.tif" \
  --classes "$NC/classes.csv" --out store --overwrite --quiet
terralearn train store --out run --overwrite --quiet
terralearn evaluate run store --split test
terralearn predict run "$NC/landsat_multiband.tif" map.tif --overwrite --quiet
python - "$NC" <<'PY'
import sys

import rasterio

import terralearn
from terralearn.accuracy.classes import read_class_table
from terralearn.viz.colors import rgb_composite
from terralearn.viz.maps import plot_class_map

with rasterio.open("map.tif") as src:  # what a GIS reads: codes, colour table, category names
    codes, colormap = src.read(1), src.colormap(1)
names = read_class_table("map.tif")
image = terralearn.open_image(f"{sys.argv[1]}/landsat_multiband.tif")
rgb = rgb_composite(image.sel(band=["B3", "B2", "B1"]).values, ["B3", "B2", "B1"],
                    valid=terralearn.valid_mask(image).values)
print(plot_class_map(codes, names, "map.png", title="NC Landsat 7 (2000): U-Net, default options",
                     rgb=rgb, colors={c: colormap[c][:3] for c in names}))
PY
