"""Label codes -> class tables: products, the raster's own category names and colours."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from raster_helpers import write_raster
from terralearn.classes import read_class_file
from terralearn.errors import ConfigError
from terralearn.io import open_image, open_labels
from terralearn.pixels import NO_LABEL

H, W = 40, 60


@pytest.fixture
def image(tmp_path):
    data = np.ones((2, H, W), np.float32)
    return open_image(write_raster(tmp_path / "img.tif", data, descriptions=["b", "g"]))


def nlcd_codes() -> np.ndarray:
    data = np.full((H, W), 41, np.uint8)  # deciduous forest
    data[:, 20:40] = 82  # cultivated crops
    data[:, 40:] = 11  # open water
    data[:5] = 0  # NLCD background: declared nodata
    return data


def test_nlcd_raster_in_another_crs_gives_exactly_its_classes(tmp_path, image, caplog):
    # the same area in UTM 34N (EPSG:32634) at 5 m: reprojected with nearest neighbour
    left, top = 500000.0, 5000000.0

    bounds = transform_bounds("EPSG:32633", "EPSG:32634", left, top - 10 * H, left + 10 * W, top)
    codes = np.kron(nlcd_codes(), np.ones((2, 2), np.uint8))  # 5 m pixels
    path = tmp_path / "nlcd.tif"
    with rasterio.open(
        path, "w", driver="GTiff", height=codes.shape[0], width=codes.shape[1], count=1,
        dtype="uint8", crs="EPSG:32634", nodata=0,
        transform=from_origin(bounds[0] - 50, bounds[3] + 50, 5.0, 5.0),
    ) as dst:  # fmt: skip
        dst.write(codes, 1)
    with caplog.at_level(logging.INFO, logger="terralearn.io.labels"):
        labels = open_labels(path, image)
    assert labels.classes == {0: "Open Water", 1: "Deciduous Forest", 2: "Cultivated Crops"}
    assert labels.table.codes == [11, 41, 82]
    assert labels.table.colors == ["#466b9f", "#68ab5f", "#ab6c28"]
    present = set(np.unique(labels.data.values).tolist())
    assert present <= {0, 1, 2, NO_LABEL} and {0, 1, 2} <= present
    assert (
        "codes [11, 41, 82] are NLCD (USGS National Land Cover Database) codes; using its class "
        "names and colours (--label-product nlcd)"
    ) in caplog.text


def _aux(path, band_xml: str) -> None:
    (path.parent / f"{path.name}.aux.xml").write_text(
        f'<PAMDataset>\n  <PAMRasterBand band="1">\n{band_xml}\n  </PAMRasterBand>\n</PAMDataset>\n'
    )


def test_category_names_in_aux_xml_name_the_classes(tmp_path, image):
    data = np.zeros((H, W), np.uint8)
    data[:, 30:] = 3
    path = write_raster(tmp_path / "cat.tif", data, nodata=255)
    # as GDAL writes them: category i names value i
    _aux(
        path,
        "<CategoryNames><Category>bare</Category><Category></Category>"
        "<Category></Category><Category>wheat</Category></CategoryNames>",
    )
    labels = open_labels(path, image)
    assert labels.classes == {0: "bare", 1: "wheat"}
    assert labels.table.codes == [0, 3]
    assert (labels.data.values[:, 30:] == 1).all() and (labels.data.values[:, :30] == 0).all()


def test_raster_attribute_table_and_colour_table(tmp_path, image):
    data = np.full((H, W), 10, np.uint8)
    data[:, 30:] = 20
    path = write_raster(tmp_path / "rat.tif", data, nodata=255)
    with rasterio.open(path, "r+") as ds:
        ds.write_colormap(1, {10: (1, 2, 3, 255), 20: (200, 100, 50, 255)})
    _aux(
        path,
        """<GDALRasterAttributeTable tableType="thematic">
      <FieldDefn index="0"><Name>Value</Name><Type>0</Type><Usage>5</Usage></FieldDefn>
      <FieldDefn index="1"><Name>Class_Name</Name><Type>2</Type><Usage>2</Usage></FieldDefn>
      <Row index="0"><F>10</F><F>pine</F></Row>
      <Row index="1"><F>20</F><F>oak</F></Row>
    </GDALRasterAttributeTable>""",
    )
    labels = open_labels(path, image)
    assert labels.classes == {0: "pine", 1: "oak"}
    assert labels.table.codes == [10, 20] and labels.table.colors == ["#010203", "#c86432"]


def test_codes_missing_from_a_class_table(tmp_path, image):
    data = np.full((H, W), 1, np.int16)
    data[:3, :10] = 9
    path = write_raster(tmp_path / "codes.tif", data, nodata=-1)
    table_file = tmp_path / "c.csv"
    table_file.write_text("value,name\n1,a\n2,b\n")
    with pytest.raises(ConfigError) as err:
        open_labels(path, image, class_table=read_class_file(table_file))
    assert str(err.value).startswith(
        f"labels {path} hold 1 value(s) not in --classes: 9 (30 px) (30 px in all)"
    )
