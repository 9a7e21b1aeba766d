"""Class tables: --classes files, built-in products, recognition, colour-mask decoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from terralearn.classes import (
    ClassInfo,
    ClassTable,
    decode_color_mask,
    product_table,
    read_class_file,
    recognise_product,
    table_for_codes,
)
from terralearn.errors import ConfigError, InputNotFoundError
from terralearn.pixels import NO_LABEL

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason="../shared/data/real is not beside the repo"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@needs_real
def test_nc_classes_csv_gives_seven_coded_classes():
    table = read_class_file(REAL / "nc" / "classes.csv")
    assert table.names == [
        "developed", "agriculture", "herbaceous", "shrubland", "forest", "water", "sediment",
    ]  # fmt: skip
    assert table.codes == [1, 2, 3, 4, 5, 6, 7]
    assert table[0] == ClassInfo(0, 1, "developed", "#d7191c", (1,))
    assert table.index_of(7) == 6 and table.index_of(7.0) == 6 and table.index_of(0) is None
    assert not table.is_color_mask


@needs_real
def test_dubai_classes_csv_has_mask_colours_and_ignore_rows():
    table = read_class_file(REAL / "dubai" / "classes.csv")
    assert table.names == ["land", "water", "building", "vegetation", "road"]
    assert table.is_color_mask and table.codes == [0, 1, 2, 3, 4]
    assert table.index_of("#9b9b9b") == NO_LABEL and table.index_of("#000000") == NO_LABEL
    assert table.index_of("#E2A929") == 1 and table[1].color == "#e2a929"


def test_rows_sharing_a_name_merge_and_yaml_reads_the_same(tmp_path):
    csv_table = read_class_file(
        write(
            tmp_path / "c.csv",
            "value,name,color\n11,water,#0000ff\n41,forest,\n42,forest,\n0,ignore,\n",
        )
    )
    yaml_table = read_class_file(
        write(
            tmp_path / "c.yaml",
            "- {value: 11, name: water, color: '#0000ff'}\n- {value: 41, name: forest}\n"
            "- {value: 42, name: forest}\n- {value: 0, name: ignore}\n",
        )
    )
    assert csv_table == yaml_table
    assert csv_table.names == ["water", "forest"] and csv_table.codes == [11, 41]
    assert csv_table[1].values == (41, 42) and csv_table.index_of(42) == 1
    assert csv_table.index_of(0) == NO_LABEL
    assert csv_table[1].color == "#ff7f0e"  # no colour given: the default palette's 2nd
    np.testing.assert_array_equal(csv_table.lookup([42, 11, 0, 5]), [1, 0, 255, 255])


def test_table_round_trips_through_json():
    table = ClassTable(
        [
            ClassInfo(0, 11, "water", "#466b9f", (11, 12)),
            ClassInfo(1, 41, "forest", "#68ab5f", (41,)),
        ],
        ignore=(0,),
    )
    data = table.to_json()
    assert data[0] == {
        "index": 0,
        "code": 11,
        "name": "water",
        "color": "#466b9f",
        "values": [11, 12],
    }
    assert data[1] == {"index": 1, "code": 41, "name": "forest", "color": "#68ab5f"}
    assert ClassTable.from_json(data) == table
    old = ClassTable.from_names({0: "a", 1: "b"})
    assert old.codes == [0, 1] and old.colors == ["#1f77b4", "#ff7f0e"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("value,name\n1,a\n2,b\n1,c\n", "line 4: value 1 is listed twice (also line 2)"),
        ("value,name,color\n1,a,#12345\n", "line 2: colour '#12345' is not #RRGGBB"),
        ("value,name\n1.5,a\n", "line 2: value '1.5' is neither a label code"),
        ("value,name\n1,\n", "line 2: value 1 has no name"),
        ("code,label\n1,a\n", "the header must be value,name[,color]"),
        ("value,name\n1,a\n#00ff00,b\n", "mixes label codes and #RRGGBB colours"),
    ],
)
def test_bad_class_files(tmp_path, text, message):
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(ConfigError) as err:
        read_class_file(path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_missing_class_file(tmp_path):
    with pytest.raises(InputNotFoundError, match="--classes .*nope.csv' does not exist"):
        read_class_file(tmp_path / "nope.csv")


def test_products_have_their_official_tables():
    corine = product_table("corine")
    assert len(corine) == 44 and corine.codes[0] == 111 and corine.codes[-1] == 523
    assert corine[corine.index_of(312)].name == "Coniferous forest"
    assert corine[corine.index_of(312)].color == "#00a600"
    nlcd = product_table("NLCD")
    assert nlcd[nlcd.index_of(42)].name == "Evergreen Forest" and len(nlcd) == 20
    assert product_table("ESA WorldCover")[0].name == "Tree cover"
    assert product_table("dynamic_world").names[:2] == ["water", "trees"]
    with pytest.raises(ConfigError, match="--label-product 'modis' is unknown; use one of nlcd"):
        product_table("modis")


def test_recognition_only_for_sparse_codes_of_one_product():
    assert recognise_product([11, 21, 41, 42, 82]) == "nlcd"
    assert recognise_product([10, 40, 50, 80]) == "worldcover"
    assert recognise_product([111, 211, 312, 512]) == "corine"
    assert recognise_product(range(1, 8)) is None  # plain codes, never Dynamic World
    assert recognise_product(range(0, 9)) is None
    assert recognise_product([90, 95]) is None  # NLCD and WorldCover both have these
    assert recognise_product([11, 21, 41, 99]) is None  # 99 is no NLCD code
    assert recognise_product([41]) is None


def test_table_for_codes_prefers_own_names_then_product():
    table = table_for_codes(
        [82, 11, 41], names={41: "woods"}, colors={11: "#010203"}, product="nlcd"
    )
    assert table.codes == [11, 41, 82]
    assert table.names == ["Open Water", "woods", "Cultivated Crops"]
    assert table.colors == ["#010203", "#68ab5f", "#ab6c28"]
    plain = table_for_codes([3, 1])
    assert plain.names == ["class_1", "class_3"] and plain.colors == ["#1f77b4", "#ff7f0e"]


def _mask(colors: dict[tuple[int, int, int], int], width: int = 10) -> np.ndarray:
    rows = []
    for rgb, n in colors.items():
        rows.extend([rgb] * n)
    pixels = np.array(rows, np.uint8)
    return pixels.T.reshape(3, -1, width)


def test_decode_color_mask():
    table = ClassTable(
        [
            ClassInfo(0, 0, "land", "#8429f6", ("#8429F6",)),
            ClassInfo(1, 1, "water", "#e2a929", ("#E2A929",)),
        ],
        ignore=("#9B9B9B",),
    )
    mask = _mask({(0x84, 0x29, 0xF6): 10, (0xE2, 0xA9, 0x29): 20, (0x9B, 0x9B, 0x9B): 10})
    out = decode_color_mask(mask, table, "tile1.png")
    assert out.dtype == np.uint8 and out.shape == (4, 10)
    np.testing.assert_array_equal(out[:, 0], [0, 1, 1, NO_LABEL])


def test_decode_color_mask_names_unknown_colours_with_counts():
    table = ClassTable([ClassInfo(0, 0, "land", "#8429f6", ("#8429F6",))])
    mask = _mask({(0x84, 0x29, 0xF6): 10, (0, 0, 0): 20, (1, 2, 3): 10})
    with pytest.raises(ConfigError) as err:
        decode_color_mask(mask, table, "Tile 1/masks/image_part_001.png")
    assert str(err.value) == (
        "mask Tile 1/masks/image_part_001.png has 2 colour(s) not in the class table: "
        "#000000 (20 px), #010203 (10 px); add them to --classes (name 'ignore' for no label)"
    )


@needs_real
def test_decode_a_real_dubai_mask():
    import warnings

    import rasterio

    table = read_class_file(REAL / "dubai" / "classes.csv")
    path = REAL / "dubai" / "Tile 1" / "masks" / "image_part_001.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not georeferenced
        with rasterio.open(path) as ds:
            rgb = ds.read()[:3]
    out = decode_color_mask(rgb, table, str(path))
    assert out.shape == (644, 797)
    values, counts = np.unique(out, return_counts=True)
    assert values.tolist() == [0, 1, 2, 3, 4, NO_LABEL]
    assert counts.tolist() == [388530, 36569, 2779, 4377, 73093, 7920]
