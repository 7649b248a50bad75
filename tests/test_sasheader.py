"""Tests for parity.sources.sasheader: synthetic headers always, the real SAS corpus when present."""

from __future__ import annotations

import csv
import io
import os
import random
import struct
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parity.sources import sasheader
from parity.sources.sasheader import MAX_SCAN_BYTES, Compression, SasHeader, read_header

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"

MAGIC = bytes.fromhex("000000000000000000000000c2ea8160b31411cfbd92080009c7318c181f1011")
CATALOG_MAGIC = bytes.fromhex("000000000000000000000000c2ea8163b31411cfbd92080009c7318c181f1011")
SAS_EPOCH = datetime(1960, 1, 1)


# ------------------------------------------------------------------------------------ synthetic files


def build_sas7bdat(
    *,
    u64: bool = True,
    little: bool = True,
    pad: bool = True,
    literal: bytes | None = None,
    page_size: int = 4096,
    page_count: int = 1,
    pages_present: int | None = None,
    created: datetime = datetime(2021, 1, 27, 20, 41, 2),
    modified: datetime = datetime(2021, 2, 3, 4, 5, 6),
) -> bytes:
    """A minimal sas7bdat: header plus pages; page 0 holds one column-text subheader."""
    e = "<" if little else ">"
    a1 = 4 if pad else 0
    a2 = 4 if u64 else 0
    header_length = 8192 if u64 else 1024
    head = bytearray(header_length)
    head[0:32] = MAGIC
    head[32] = 0x33 if u64 else 0x22
    head[35] = 0x33 if pad else 0x22
    head[37] = 0x01 if little else 0x00
    head[39] = ord("1")
    head[70] = 20
    head[84:92] = b"SAS FILE"
    head[92:156] = b"MYDATA".ljust(64)
    head[156:164] = b"DATA    "
    struct.pack_into(
        e + "dd", head, 164 + a1, *((d - SAS_EPOCH).total_seconds() for d in (created, modified))
    )
    struct.pack_into(e + "II", head, 196 + a1, header_length, page_size)
    struct.pack_into(e + ("Q" if u64 else "I"), head, 204 + a1, page_count)
    rel = 216 + a1 + a2
    for offset, value in ((0, b"9.0401M5"), (8, b"Linux"), (24, b"3.10.0-1160.11.1"), (56, b"x86_64")):
        field = 8 if offset == 0 else 16
        head[rel + offset : rel + offset + field] = value.ljust(field, b"\x00")

    int_fmt = e + ("Q" if u64 else "I")
    int_len = 8 if u64 else 4
    page_header = 32 if u64 else 16
    page = bytearray(page_size)
    struct.pack_into(e + "HHH", page, page_header, 0x0000, 1, 1)  # meta page, 1 subheader
    text = bytearray(96)
    signature = b"\xfd\xff\xff\xff" if little else b"\xff\xff\xff\xfd"
    if u64:
        signature = signature + b"\xff\xff\xff\xff" if little else b"\xff\xff\xff\xff" + signature
    text[0:int_len] = signature
    if literal is not None:
        text[16 + a2 : 24 + a2] = literal
    text[40:48] = b"DATASTEP"
    sub_offset = page_size - len(text)
    page[sub_offset:] = text
    ptr = page_header + 8
    struct.pack_into(int_fmt, page, ptr, sub_offset)
    struct.pack_into(int_fmt, page, ptr + int_len, len(text))
    pages = bytes(page) + bytes(page_size) * (page_count - 1)
    present = page_count if pages_present is None else pages_present
    return bytes(head) + pages[: present * page_size]


def build_xport(*, version: int = 5, created: bytes = b"25OCT06:10:31:07", name: bytes = b"DEMO") -> bytes:
    lib = b"LIBRARY " if version == 5 else b"LIBV8   "
    mem, dsc = (b"MEMBER  ", b"DSCRPTR ") if version == 5 else (b"MEMBV8  ", b"DSCPTV8 ")
    name_field = name.ljust(8 if version == 5 else 32)

    def header(kind: bytes, tail: bytes) -> bytes:
        return b"HEADER RECORD*******" + kind + b"HEADER RECORD!!!!!!!" + tail

    records = [
        header(lib, b"0" * 30 + b"  "),
        b"SAS     SAS     SASLIB  9.4     X64_10PR" + b" " * 24 + created,
        created.ljust(80),
        header(mem, b"000000000000000001600000000140  "),
        header(dsc, b"0" * 30 + b"  "),
        (b"SAS     " + name_field + b"SASDATA 9.4     X64_10PR").ljust(64) + created,
        created.ljust(80),
    ]
    assert all(len(r) == 80 for r in records), [len(r) for r in records]
    return b"".join(records)


def write(tmp_path: Path, data: bytes, name: str = "file.sas7bdat") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("u64", [True, False])
@pytest.mark.parametrize("little", [True, False])
@pytest.mark.parametrize(
    ("literal", "expected"), [(None, "none"), (b"SASYZCRL", "RLE"), (b"SASYZCR2", "RDC")]
)
def test_synthetic_sas7bdat(
    tmp_path: Path, u64: bool, little: bool, literal: bytes | None, expected: Compression
) -> None:
    path = write(tmp_path, build_sas7bdat(u64=u64, little=little, pad=u64, literal=literal, page_count=2))
    h = read_header(path)
    assert h == SasHeader(
        format="sas7bdat",
        xport_version=None,
        sas_release="9.0401M5",
        host="Linux",
        os_name="x86_64",
        created=datetime(2021, 1, 27, 20, 41, 2),
        modified=datetime(2021, 2, 3, 4, 5, 6),
        dataset_name="MYDATA",
        encoding_code=20,
        bitness=64 if u64 else 32,
        endianness="little" if little else "big",
        platform="unix",
        page_size=4096,
        page_count=2,
        compression=expected,
        os_version="3.10.0-1160.11.1",
    )


def test_sas7bdat_alignment_pad_independent_of_bitness(tmp_path: Path) -> None:
    # Byte 35 (pad) and byte 32 (64-bit) are separate switches; one corpus file has u64 without pad.
    h = read_header(write(tmp_path, build_sas7bdat(u64=True, pad=False, literal=b"SASYZCRL")))
    assert (h.bitness, h.sas_release, h.compression) == (64, "9.0401M5", "RLE")
    h = read_header(write(tmp_path, build_sas7bdat(u64=False, pad=True)))
    assert (h.bitness, h.host, h.created) == (32, "Linux", datetime(2021, 1, 27, 20, 41, 2))


def test_not_a_sas_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"id,value\n1,2\n" * 100, "data.csv")
    with pytest.raises(ValueError, match=r"data\.csv.*not a SAS file"):
        read_header(path)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        read_header(write(tmp_path, b""))


def test_directory_is_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        read_header(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.xpt"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        read_header(fifo)


def test_missing_file_is_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "nope.sas7bdat")


def test_catalog_is_rejected(tmp_path: Path) -> None:
    data = CATALOG_MAGIC + build_sas7bdat()[32:]
    with pytest.raises(ValueError, match="catalog"):
        read_header(write(tmp_path, data, "formats.sas7bcat"))


@pytest.mark.parametrize("length", [10, 100, 250])
def test_truncated_sas7bdat_header(tmp_path: Path, length: int) -> None:
    path = write(tmp_path, build_sas7bdat()[:length], "cut.sas7bdat")
    with pytest.raises(ValueError, match=r"cut\.sas7bdat.*truncated"):
        read_header(path)


def test_truncated_sas7bdat_pages(tmp_path: Path) -> None:
    path = write(tmp_path, build_sas7bdat(page_count=3, pages_present=2))
    with pytest.raises(ValueError, match="truncated sas7bdat file"):
        read_header(path)


def test_corrupt_page_size(tmp_path: Path) -> None:
    data = bytearray(build_sas7bdat(u64=False, pad=False))
    struct.pack_into("<I", data, 200, 7)
    with pytest.raises(ValueError, match="page size 7"):
        read_header(write(tmp_path, bytes(data)))


def test_unparseable_timestamps_are_none(tmp_path: Path) -> None:
    data = bytearray(build_sas7bdat(u64=False, pad=False))
    struct.pack_into("<dd", data, 164, float("nan"), 1e300)
    h = read_header(write(tmp_path, bytes(data)))
    assert h.created is None and h.modified is None and h.sas_release == "9.0401M5"


def test_compression_scan_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Metadata pages without any column-text subheader: the scan stops at MAX_SCAN_BYTES."""
    page_size, page_count = 256 * 1024, 100
    head = build_sas7bdat(page_size=page_size, page_count=page_count, pages_present=0)
    path = tmp_path / "big.sas7bdat"
    with path.open("wb") as f:
        f.write(head)
        f.truncate(len(head) + page_size * page_count)  # sparse: all-zero meta pages
    read_bytes = 0
    real_open = open

    class Counting(io.BufferedReader):
        def read(self, size: int | None = -1, /) -> bytes:
            nonlocal read_bytes
            data = super().read(size)
            read_bytes += len(data)
            return data

    def counting_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        assert mode == "rb"
        return Counting(real_open(file, "rb", buffering=0))

    monkeypatch.setattr(sasheader, "open", counting_open, raising=False)
    h = read_header(path)
    assert h.compression is None
    assert h.page_count == page_count
    assert 0 < read_bytes <= 1024 + MAX_SCAN_BYTES


def test_fuzzed_synthetic_files_raise_only_valueerror(tmp_path: Path) -> None:
    rng = random.Random(20240601)
    seeds = [
        build_sas7bdat(u64=u, little=le, literal=b"SASYZCRL") for u in (True, False) for le in (True, False)
    ]
    seeds += [build_xport(version=5), build_xport(version=8)]
    path = tmp_path / "fuzz.bin"
    outcomes = {"ok": 0, "ValueError": 0}
    for seed in seeds:
        for _ in range(150):
            data = bytearray(seed)
            if rng.random() < 0.3:
                data = data[: rng.randrange(len(data) + 1)]
            else:
                for _ in range(rng.randrange(1, 12)):
                    i = rng.randrange(min(len(data), 400 if rng.random() < 0.6 else len(data)))
                    data[i] = rng.randrange(256)
            path.write_bytes(bytes(data))
            try:
                read_header(path)
                outcomes["ok"] += 1
            except ValueError as exc:
                assert "unreadable SAS header" not in str(exc), exc  # no internal surprises
                outcomes["ValueError"] += 1
    assert outcomes["ok"] and outcomes["ValueError"]


# ------------------------------------------------------------------------------------------- XPORT


@pytest.mark.parametrize("version", [5, 8])
def test_synthetic_xport(tmp_path: Path, version: int) -> None:
    name = b"DEMO" if version == 5 else b"A_LONG_V8_DATASET_NAME"
    h = read_header(write(tmp_path, build_xport(version=version, name=name), "demo.xpt"))
    assert h == SasHeader(
        format="xport",
        xport_version=version,
        sas_release="9.4",
        host="X64_10PR",
        os_name=None,
        created=datetime(2006, 10, 25, 10, 31, 7),
        modified=datetime(2006, 10, 25, 10, 31, 7),
        dataset_name=name.decode(),
        encoding_code=None,
        bitness=None,
        endianness=None,
        platform=None,
        page_size=None,
        page_count=None,
        compression=None,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"14Apr14:14:26:19", datetime(2014, 4, 14, 14, 26, 19)),  # mixed-case month (phuse PDS files)
        (b"01JAN00:00:00:00", datetime(2000, 1, 1)),
        (b"22NOV26:04:58:01", datetime(2026, 11, 22, 4, 58, 1)),  # written "now": must not be 1926
        (b"31DEC39:23:59:59", datetime(2039, 12, 31, 23, 59, 59)),
        (b"01JAN40:00:00:00", datetime(1940, 1, 1)),
        (b"15MAR89:12:00:00", datetime(1989, 3, 15, 12)),
        (b"31FEB20:00:00:00", None),
        (b"                ", None),
    ],
)
def test_xport_two_digit_years(tmp_path: Path, text: bytes, expected: datetime | None) -> None:
    assert read_header(write(tmp_path, build_xport(created=text), "d.xpt")).created == expected


def test_xport_empty_library(tmp_path: Path) -> None:
    h = read_header(write(tmp_path, build_xport()[:240], "empty.xpt"))
    assert (h.xport_version, h.dataset_name, h.sas_release) == (5, None, "9.4")


@pytest.mark.parametrize("length", [30, 100, 300])
def test_truncated_xport(tmp_path: Path, length: int) -> None:
    path = write(tmp_path, build_xport()[:length], "cut.xpt")
    with pytest.raises(ValueError, match=r"cut\.xpt.*truncated"):
        read_header(path)


def test_cport_is_rejected(tmp_path: Path) -> None:
    data = b"**COMPRESSED** **COMPRESSED** **COMPRESSED** **COMPRESSED** **COMPRESSED********" * 4
    with pytest.raises(ValueError, match="CPORT"):
        read_header(write(tmp_path, data, "lib.cpt"))


@pytest.mark.parametrize("version", [5, 8])
def test_pyreadstat_written_xport(tmp_path: Path, version: int) -> None:
    pyreadstat = pytest.importorskip("pyreadstat")
    pd = pytest.importorskip("pandas")
    path = tmp_path / f"out_v{version}.xpt"
    before = datetime.now()
    df = pd.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    pyreadstat.write_xport(df, str(path), table_name="MYTABLE", file_format_version=version)
    h = read_header(path)
    assert (h.format, h.xport_version, h.dataset_name) == ("xport", version, "MYTABLE")
    assert h.sas_release and h.host  # ReadStat claims "6.06" on "bsd4.2"
    assert h.created is not None and abs(h.created - before) < timedelta(days=1)
    cut = write(tmp_path, path.read_bytes()[:100], "cut.xpt")
    with pytest.raises(ValueError, match="truncated"):
        read_header(cut)


# ------------------------------------------------------------------------------------------ corpus


def _manifest_rows() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="module")
def corpus() -> Iterator[Path]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.skip(f"SAS corpus not present at {CORPUS}")
    yield CORPUS


CORPUS_CASES: list[tuple[str, dict[str, object]]] = [
    (
        "pandas/pandas/tests/io/sas/data/DEMO_G.xpt",
        {
            "format": "xport",
            "xport_version": 5,
            "sas_release": "9.3",
            "host": "W32_7PRO",
            "created": datetime(2014, 11, 10, 14, 56, 36),
            "dataset_name": "DEMO_G",
            "compression": None,
        },
    ),
    (
        # OS field is b"XP_PRO\0N": NUL-terminated, the trailing byte is garbage
        "pandas/pandas/tests/io/sas/data/SSHSV1_A.xpt",
        {
            "xport_version": 5,
            "sas_release": "9.1",
            "host": "XP_PRO",
            "created": datetime(2006, 10, 25, 10, 31, 7),
        },
    ),
    (
        "pyreadstat/test_data/basic/sas.xpt8",
        {
            "xport_version": 8,
            "sas_release": "9.1",
            "host": "LIN X64",
            "dataset_name": "WRITE",
            "created": datetime(2019, 6, 20, 10, 20, 27),
        },
    ),
    (
        "phuse-scripts/data/send/PDS/Xpt/mi.xpt",
        {"created": datetime(2014, 4, 14, 14, 26, 19), "dataset_name": "MI"},
    ),
    (
        "parso/src/test/resources/dates/sas7bdat/date_format_weekdatx.sas7bdat",
        {
            "format": "sas7bdat",
            "sas_release": "9.0401M5",
            "host": "Linux",
            "os_name": "x86_64",
            "os_version": "3.10.0-1160.11.1",
            "bitness": 64,
            "endianness": "little",
            "platform": "unix",
            "page_size": 8192,
            "page_count": 2,
            "compression": "none",
            "encoding_code": 29,
            "dataset_name": "DATE_FORMAT_WEEKDATX",
        },
    ),
    (
        "pandas/pandas/tests/io/sas/data/airline.sas7bdat",
        {
            "sas_release": "9.0000M0",
            "host": "WIN",
            "os_name": None,
            "bitness": 32,
            "platform": "windows",
            "created": datetime(2008, 5, 13, 15, 25, 11),
            "compression": "none",
            "encoding_code": 0,
        },
    ),
    (
        "pandas/pandas/tests/io/sas/data/test2.sas7bdat",
        {"bitness": 32, "endianness": "little", "compression": "RLE", "sas_release": "9.0401M1"},
    ),
    (
        "pandas/pandas/tests/io/sas/data/test14.sas7bdat",
        {"bitness": 64, "endianness": "big", "compression": "RDC", "page_size": 65536, "page_count": 2},
    ),
    (
        "pandas/pandas/tests/io/sas/data/test15.sas7bdat",
        {"bitness": 64, "endianness": "big", "compression": "RLE"},
    ),
    (
        "pyreadstat/test_data/basic/sample_bincompressed.sas7bdat",
        {
            "compression": "RDC",
            "sas_release": "9.0401M6",
            "encoding_code": 20,
            "dataset_name": "BINCOMPRESSED",
        },
    ),
    (
        "parso/src/test/resources/bugs/54-class.sas7bdat",
        {
            "host": "AIX",
            "os_version": "7.2",
            "endianness": "big",
            "compression": "RLE",
            "page_size": 262144,
            "created": datetime(2019, 9, 9, 15, 43, 0, 455887),
            "modified": datetime(2019, 9, 12, 13, 15, 54, 24162),
        },
    ),
]


@pytest.mark.corpus
@pytest.mark.parametrize(("rel", "expected"), CORPUS_CASES, ids=[Path(c[0]).name for c in CORPUS_CASES])
def test_corpus_specific_files(corpus: Path, rel: str, expected: dict[str, object]) -> None:
    h = read_header(corpus / rel)
    got = {key: getattr(h, key) for key in expected}
    assert got == expected


@pytest.mark.corpus
@pytest.mark.parametrize(
    "rel",
    [
        "pandas/pandas/tests/io/sas/data/corrupt.sas7bdat",
        "parso/src/test/resources/bugs/invalid_lengths.sas7bdat",
        "parso/src/test/resources/bugs/sas_infinite_loop.sas7bdat",
    ],
)
def test_corpus_hostile_files_fail_cleanly(corpus: Path, rel: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ValueError, match=Path(rel).name.replace(".", r"\.")):
        read_header(corpus / rel)
    assert time.perf_counter() - start < 1.0


def _corpus_files(corpus: Path, rows: list[dict[str, str]]) -> list[Path]:
    on_disk = {
        p
        for p in corpus.rglob("*")
        if p.is_file() and p.suffix.lower() in {".sas7bdat", ".xpt", ".xpt5", ".xpt8"}
    }
    listed = {corpus / r["local_path"] for r in rows if r["kind"] in {"sas7bdat", "xpt"}}
    return sorted(on_disk | listed)


@pytest.mark.corpus
def test_corpus_whole(corpus: Path) -> None:
    """Every SAS file: returns or raises ValueError; compression and provenance agree with MANIFEST."""
    rows = _manifest_rows()
    by_path = {corpus / r["local_path"]: r for r in rows}
    files = _corpus_files(corpus, rows)
    assert len(files) >= 800

    start = time.perf_counter()
    results: dict[Path, SasHeader | ValueError] = {}
    for path in files:
        try:
            results[path] = read_header(path)
        except ValueError as exc:
            assert str(path) in str(exc)
            results[path] = exc
    elapsed = time.perf_counter() - start
    assert elapsed < 10, f"corpus took {elapsed:.1f}s"

    agree, mismatches, raised = 0, [], []
    for path, row in by_path.items():
        if row["kind"] not in {"sas7bdat", "xpt"}:
            continue
        result = results[path]
        if isinstance(result, ValueError):
            raised.append(row["local_path"])
            # only files no reader can read may fail here
            assert row["reads_pyreadstat"].startswith("error"), (row["local_path"], result)
            continue
        want = row["compression"].split(" ")[0]
        if want in {"none", "RLE", "RDC"}:
            if result.compression == want:
                agree += 1
            else:
                mismatches.append((row["local_path"], want, result.compression))
        _check_against_manifest_header(row, result)

    compared = agree + len(mismatches)
    print(
        f"\nsasheader corpus: {len(files)} files in {elapsed:.2f}s; compression agrees with MANIFEST "
        f"{agree}/{compared} ({100 * agree / max(compared, 1):.1f}%); ValueError on {len(raised)}: {raised}"
    )
    assert not mismatches, mismatches
    assert compared >= 600


def _check_against_manifest_header(row: dict[str, str], h: SasHeader) -> None:
    fields = dict(kv.split("=", 1) for kv in row["header"].split("; ") if "=" in kv)
    where = row["local_path"]
    if row["kind"] == "sas7bdat":
        assert h.format == "sas7bdat", where
        assert h.sas_release == fields["release"], where
        assert (h.host or "") == fields["host"].strip(), where
        assert f"{h.page_size}x{h.page_count}" == fields["page"], where
        assert str(h.created) == fields["created"], where
    else:
        assert h.format == "xport", where
        assert f"V{h.xport_version}" == fields["version"], where
        assert (h.sas_release or "") == fields["sas"], where
        # MANIFEST shows NULs in the 8-byte OS field as blanks ("XP_PRO N"); the reader stops at the NUL
        assert fields["os"].startswith(h.host or ""), where
        assert (
            h.created is not None
            and h.created.strftime("%d%b%y:%H:%M:%S").upper() == fields["created"].upper()
        )
