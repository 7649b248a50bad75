"""Round trips of parity.testing.sas7bdat_writer through pyreadstat (and pandas, an independent reader)."""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import struct
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from parity.testing.sas7bdat_writer import (
    Column,
    SpecialMissing,
    describe_sas7bdat,
    sas_date,
    sas_datetime,
    sas_time,
    write_sas7bdat,
)

STAMP = dt.datetime(2024, 3, 1, 9, 30, 0)


def truncated(value: float, length: int) -> float:
    """What SAS keeps of a double stored in ``length`` bytes: its most significant bytes."""
    kept = struct.pack(">d", value)[:length]
    return float(struct.unpack(">d", kept + b"\0" * (8 - length))[0])


def claims_columns() -> list[Column]:
    return [
        Column(
            "claim_id", "string", ["C001", "C002", "C003", "C004"], format="$8", label="Claim ID", length=8
        ),
        Column("line_no", "numeric", [1, 2, 1, 3], format="3.", label="Line number", length=3),
        Column(
            "svc_date",
            "numeric",
            [
                sas_date(dt.date(2024, 1, 5)),
                sas_date(dt.date(2024, 1, 31)),
                None,
                sas_date(dt.date(1959, 12, 31)),
            ],
            format="DATE9.",
            label="Service date",
        ),
        Column(
            "loaded_at",
            "numeric",
            [sas_datetime(dt.datetime(2024, 2, 1, 8, 15, 30))] * 4,
            format="DATETIME20",
            label="Load timestamp",
        ),
        Column("svc_time", "numeric", [sas_time(dt.time(13, 45, 10)), 0.0, 59.0, None], format="TIME8"),
        Column(
            "paid",
            "numeric",
            [1234.56, SpecialMissing("N"), -0.01, SpecialMissing("_")],
            format="COMMA12.2",
            label="Paid amount",
        ),
        Column(
            "status", "string", ["PAID", "DENIED", None, "é"], format="$CHAR10", label="Status", length=10
        ),
    ]


# --- helpers ---------------------------------------------------------------------------------------------------


def test_sas_date_helpers() -> None:
    assert sas_date(dt.date(1960, 1, 1)) == 0.0
    assert sas_date(dt.date(2024, 1, 1)) == 23376.0
    assert sas_date(dt.date(1959, 12, 31)) == -1.0
    assert sas_datetime(dt.datetime(1960, 1, 2, 0, 0, 1)) == 86401.0
    assert sas_datetime(dt.datetime(2024, 1, 1, 12, 0, 0, 500000)) == 23376 * 86400 + 43200.5
    assert sas_time(dt.time(13, 30)) == 48600.0
    with pytest.raises(ValueError, match="sas_datetime"):
        sas_date(dt.datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="time zone"):
        sas_datetime(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))


# --- metadata and values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "rows"])
def test_metadata_round_trip(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "claims.sas7bdat"
    write_sas7bdat(
        path,
        claims_columns(),
        table_name="CLAIMS",
        file_label="Claim lines, January 2024",
        compression=compression,  # type: ignore[arg-type]
        timestamp=STAMP,
    )
    df, meta = pyreadstat.read_sas7bdat(path, user_missing=True, disable_datetime_conversion=True)

    assert meta.column_names == ["claim_id", "line_no", "svc_date", "loaded_at", "svc_time", "paid", "status"]
    assert meta.original_variable_types == {
        "claim_id": "$8",
        "line_no": "3",
        "svc_date": "DATE9",
        "loaded_at": "DATETIME20",
        "svc_time": "TIME8",
        "paid": "COMMA12.2",
        "status": "$CHAR10",
    }
    assert meta.column_names_to_labels == {
        "claim_id": "Claim ID",
        "line_no": "Line number",
        "svc_date": "Service date",
        "loaded_at": "Load timestamp",
        "svc_time": None,
        "paid": "Paid amount",
        "status": "Status",
    }
    assert meta.variable_storage_width == {
        "claim_id": 8,
        "line_no": 3,
        "svc_date": 8,
        "loaded_at": 8,
        "svc_time": 8,
        "paid": 8,
        "status": 10,
    }
    assert meta.file_label == "Claim lines, January 2024"
    assert meta.table_name == "CLAIMS"
    assert meta.number_rows == 4
    assert meta.creation_time == dt.datetime.fromtimestamp(STAMP.replace(tzinfo=dt.UTC).timestamp())
    assert meta.missing_user_values == {"paid": ["N", "_"]}

    assert df["claim_id"].tolist() == ["C001", "C002", "C003", "C004"]
    assert df["line_no"].tolist() == [1.0, 2.0, 1.0, 3.0]
    assert df["svc_date"].tolist()[:2] == [23380.0, 23406.0]
    assert math.isnan(df["svc_date"][2])
    assert df["svc_date"][3] == -1.0
    assert df["loaded_at"][0] == sas_datetime(dt.datetime(2024, 2, 1, 8, 15, 30))
    assert df["paid"].tolist() == [1234.56, "N", -0.01, "_"]
    assert df["status"].tolist() == ["PAID", "DENIED", "", "é"]

    layout = describe_sas7bdat(path)
    assert layout.compression == compression
    assert layout.row_count == 4


def test_dates_convert_from_their_formats(tmp_path: Path) -> None:
    path = tmp_path / "claims.sas7bdat"
    write_sas7bdat(path, claims_columns())
    df, _ = pyreadstat.read_sas7bdat(path)
    assert df["svc_date"][0] == dt.date(2024, 1, 5)
    assert df["svc_date"][3] == dt.date(1959, 12, 31)
    assert pd.isna(df["svc_date"][2])
    assert df["loaded_at"][0] == pd.Timestamp(2024, 2, 1, 8, 15, 30)
    assert df["svc_time"][0] == dt.time(13, 45, 10)
    assert pd.isna(df["paid"][1])  # special missing reads as NaN unless user_missing=True


def test_strings_are_blank_padded_like_sas(tmp_path: Path) -> None:
    path = tmp_path / "s.sas7bdat"
    write_sas7bdat(path, [Column("s", "string", ["ab", "  lead", None, "trail  "], length=12)])
    raw = path.read_bytes()
    assert b"ab" + b" " * 10 in raw
    assert b"  lead" + b" " * 6 in raw
    assert b" " * 12 + b"trail" in raw  # the missing value is all blanks, as in SAS
    df, meta = pyreadstat.read_sas7bdat(path)
    assert df["s"].tolist() == ["ab", "  lead", "", "trail"]  # readers strip trailing blanks
    assert meta.variable_storage_width == {"s": 12}


def test_default_string_length_is_longest_utf8_value(tmp_path: Path) -> None:
    path = tmp_path / "s.sas7bdat"
    write_sas7bdat(path, [Column("a", "string", ["x", "ééé"]), Column("b", "string", [None, None])])
    _, meta = pyreadstat.read_sas7bdat(path)
    assert meta.variable_storage_width == {"a": 6, "b": 1}


# --- special missing values ------------------------------------------------------------------------------------


def test_all_special_missing_values(tmp_path: Path) -> None:
    tags = [*"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "_"]
    path = tmp_path / "m.sas7bdat"
    write_sas7bdat(
        path,
        [
            Column("x", "numeric", [SpecialMissing(tag) for tag in tags] + [None, 1.5, float("nan")]),
            Column("i", "numeric", list(range(len(tags) + 3))),
        ],
    )
    df, meta = pyreadstat.read_sas7bdat(path, user_missing=True)
    assert df["x"].tolist()[: len(tags)] == tags
    assert math.isnan(df["x"][len(tags)])
    assert df["x"][len(tags) + 1] == 1.5
    assert math.isnan(df["x"][len(tags) + 2])  # a float NaN is written as system missing
    assert sorted(str(tag) for tag in meta.missing_user_values["x"]) == sorted(tags)
    assert "i" not in meta.missing_user_values


# --- RLE compression -------------------------------------------------------------------------------------------


def test_rle_compression_round_trips_and_shrinks(tmp_path: Path) -> None:
    rng = random.Random(7)
    n = 3000
    columns = [
        Column("member", "string", [f"M{rng.randint(1, 50):05d}" for _ in range(n)], length=40),
        Column("note", "string", [rng.choice(["", "REVERSED", "ADJUSTED"]) for _ in range(n)], length=200),
        Column("amount", "numeric", [round(rng.uniform(0, 500), 2) for _ in range(n)], format="8.2"),
        Column("flag", "numeric", [rng.choice((0.0, 1.0, SpecialMissing("N"))) for _ in range(n)]),
    ]
    plain, packed = tmp_path / "plain.sas7bdat", tmp_path / "packed.sas7bdat"
    write_sas7bdat(plain, columns)
    write_sas7bdat(packed, columns, compression="rows")

    assert describe_sas7bdat(plain).rle_rows == 0
    layout = describe_sas7bdat(packed)
    assert layout.compression == "rows"
    assert layout.rle_rows == n
    assert packed.stat().st_size < plain.stat().st_size / 3

    a, meta_a = pyreadstat.read_sas7bdat(plain, user_missing=True)
    b, meta_b = pyreadstat.read_sas7bdat(packed, user_missing=True)
    pd.testing.assert_frame_equal(a, b)
    assert meta_a.variable_storage_width == meta_b.variable_storage_width
    assert b["amount"].tolist() == [value for value in columns[2].values]
    assert pd.read_sas(packed, format="sas7bdat", encoding="utf-8")["member"].tolist() == list(
        columns[0].values
    )


# --- numeric lengths below 8 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "rows"])
def test_short_numerics_keep_the_leading_bytes(tmp_path: Path, compression: str) -> None:
    rng = random.Random(11)
    n = 700  # several pages
    values = [
        rng.choice([0.0, 1.0, 0.1, -2.5, 123456.789, 1e10, rng.uniform(-1e6, 1e6), None, SpecialMissing("A")])
        for _ in range(n)
    ]
    lengths = [3, 4, 5, 6, 7, 8]
    columns = [
        Column("label", "string", [rng.choice(["x", "", "\x01\x02", "@@@"]) for _ in range(n)], length=5)
    ]
    columns += [Column(f"n{length}", "numeric", values, length=length, format="BEST12") for length in lengths]
    columns.append(Column("after", "numeric", [float(i) for i in range(n)]))
    path = tmp_path / "short.sas7bdat"
    write_sas7bdat(path, columns, compression=compression)  # type: ignore[arg-type]

    df, meta = pyreadstat.read_sas7bdat(path, user_missing=True)
    assert meta.variable_storage_width == {
        "label": 5,
        **{f"n{length}": length for length in lengths},
        "after": 8,
    }
    assert meta.original_variable_types[f"n{lengths[0]}"] == "BEST12"
    assert meta.missing_user_values == {f"n{length}": ["A"] for length in lengths}
    for length in lengths:
        for row, value in enumerate(values):
            got = df[f"n{length}"][row]
            if value is None:
                assert math.isnan(got)
            elif isinstance(value, SpecialMissing):
                assert got == "A"
            else:
                assert got == truncated(value, length), (length, row, value, got)
    assert df["after"].tolist() == [float(i) for i in range(n)]
    # 123456.789 in 4 bytes, as SAS shows it after LENGTH x 4
    assert truncated(123456.789, 4) == 123456.75
    # pandas reads the same bytes independently
    other = pd.read_sas(path, format="sas7bdat", encoding="utf-8")
    assert [v for v in other["n4"] if v == v] == [v for v in df["n4"] if isinstance(v, float) and v == v]


# --- determinism, atomicity, errors ----------------------------------------------------------------------------


def test_fixed_timestamp_gives_identical_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a.sas7bdat", tmp_path / "b.sas7bdat"
    write_sas7bdat(first, claims_columns(), compression="rows", timestamp=STAMP)
    write_sas7bdat(second, claims_columns(), compression="rows", timestamp=STAMP)
    assert first.read_bytes() == second.read_bytes()


def test_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "empty.sas7bdat"
    write_sas7bdat(path, [Column("x", "numeric", [], length=4), Column("s", "string", [], length=3)])
    df, meta = pyreadstat.read_sas7bdat(path)
    assert len(df) == 0
    assert meta.variable_storage_width == {"x": 4, "s": 3}


def test_readstat_errors_are_named_and_leave_no_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.sas7bdat"
    path.write_bytes(b"previous content")
    with pytest.raises(RuntimeError, match="reserved word"):
        write_sas7bdat(path, [Column("_N_", "numeric", [1.0])])
    assert path.read_bytes() == b"previous content"
    assert os.listdir(tmp_path) == ["bad.sas7bdat"]


@pytest.mark.parametrize(
    ("columns", "kwargs", "message"),
    [
        ([], {}, "at least one column"),
        ([Column("a", "numeric", [1, 2]), Column("b", "numeric", [1])], {}, "same number of rows"),
        ([Column("a", "numeric", [1]), Column("A", "numeric", [1])], {}, "duplicate column name"),
        ([Column("1a", "numeric", [1])], {}, "not a valid SAS variable name"),
        ([Column("a", "numeric", ["x"])], {}, "numeric column takes"),
        ([Column("a", "numeric", [True])], {}, "numeric column takes"),
        ([Column("a", "numeric", [float("inf")])], {}, "cannot store"),
        ([Column("a", "numeric", [1], length=2)], {}, "integer 3..8"),
        ([Column("a", "numeric", [1], length=9)], {}, "integer 3..8"),
        ([Column("a", "string", [1])], {}, "string column takes"),
        ([Column("a", "string", ["abcdef"], length=3)], {}, "needs 6 bytes"),
        ([Column("a", "string", ["x"], format="DATE9")], {}, "numeric format"),
        ([Column("a", "numeric", [1], format="$10")], {}, "character format"),
        ([Column("a", "numeric", [1], format="DATE 9")], {}, "not a SAS format"),
        ([Column("a", "numeric", [1], label="x" * 257)], {}, "SAS allows 256"),
        ([Column("a", "kind", [1])], {}, "kind must be"),  # type: ignore[arg-type]
        ([Column("a", "numeric", [1])], {"table_name": "bad name"}, "table_name"),
        ([Column("a", "numeric", [1])], {"compression": "binary"}, "compression"),
    ],
)
def test_bad_input_raises_value_error(
    tmp_path: Path, columns: list[Column], kwargs: dict[str, object], message: str
) -> None:
    path = tmp_path / "x.sas7bdat"
    with pytest.raises(ValueError, match=message):
        write_sas7bdat(path, columns, **kwargs)  # type: ignore[arg-type]
    assert not path.exists()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("tag", ["a", "AB", "", ".", "1"])
def test_bad_special_missing_tag(tag: str) -> None:
    with pytest.raises(ValueError, match="SpecialMissing tag"):
        SpecialMissing(tag)
