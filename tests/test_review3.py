"""Adversarial review 3 (the warn verdict, the raw SAS fast path, SAS lengths in the file's encoding): regression
tests for the defects found."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from parity.api import compare_frames
from parity.engine.normalize import Collation, code_page, python_codec
from parity.errors import InputError
from parity.model import DatasetResult
from parity.sources.sas import SasMeta, read_sas_whole, reader_encoding
from parity.sources.sas_stream import _chunk_rows
from parity.testing.sas7bdat_writer import Column, write_sas7bdat
from tests import test_sas_lengths
from tests.test_sas_lengths import sas_file

#: the header byte ReadStat maps to these iconv names (readstat_sas.c's charset table)
ICONV_BYTES = {"BIG-5": 123, "WINDOWS-936": 126}


def status(result: DatasetResult, name: str) -> str:
    return next(c.status for c in result.checks if c.name == name)


@pytest.mark.parametrize(("name", "codec"), [
    ("BIG-5", "big5"), ("WINDOWS-936", "gbk"), ("MACCROATIAN", "mac-croatian"), ("MACROMANIA", "mac-romanian"),
    ("MACICELAND", "mac-iceland"), ("MACCENTRALEUROPE", "mac-latin2"), ("WINDOWS-1252", "cp1252"),
    ("CP932", "cp932"), ("SHIFT_JISX0213", "shift_jisx0213"), ("UTF-8", "utf-8"), ("latin1", "iso8859-1"),
    ("EUC-TW", None), ("CP942", None), ("hex", None),
])
def test_iconv_encoding_names_resolve_to_python_codecs(name: str, codec: str | None) -> None:
    """ReadStat names a file's encoding as iconv does; Python spells some of them otherwise.  An unresolved name
    measured and collated the file's strings as UTF-8 (CJK 3 bytes where Big5/GBK write 2)."""
    assert python_codec(name) == codec
    collation = Collation.of(name)
    assert collation.codec == (None if codec in (None, "utf-8") else codec)
    assert (collation.note is None) == (codec is not None)


@pytest.mark.parametrize("encoding", sorted(ICONV_BYTES))
def test_cjk_lengths_and_order_in_an_iconv_named_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          encoding: str) -> None:
    """'中文' is 4 bytes in Big5 and GBK (6 in UTF-8): it fits a LENGTH 4 column (no spurious schema warning, now a
    warn verdict); '中文字' (6 bytes) does not; and SAS sorts by the file's bytes ('，' 0xA1.. before '中')."""
    for name, byte in ICONV_BYTES.items():
        monkeypatch.setitem(test_sas_lengths.ENCODING_BYTE, name, byte)
    codec = python_codec(encoding)
    assert codec is not None and code_page(codec).byte_length("中文") == 4
    values = ["，，", "中文"]
    assert values[0].encode(codec) < values[1].encode(codec) and values[0] > values[1]  # bytes vs code points
    path = sas_file(tmp_path / "d.sas7bdat", encoding, values, 4)
    same = pl.DataFrame({"id": [1.0, 2.0], "s": values})
    result = compare_frames(path, same, keys=["id"], sort_by=["s"])
    assert result.verdict == "pass", [(c.name, c.status, c.summary) for c in result.checks]
    assert status(result, "schema") == "pass" and status(result, "sort_order") == "pass"
    longer = pl.DataFrame({"id": [1.0, 2.0], "s": ["，，", "中文字"]})
    result = compare_frames(path, longer, keys=["id"])
    schema = next(c for c in result.checks if c.name == "schema")
    assert schema.status == "warn" and "over 4 bytes" in schema.summary and encoding in schema.summary


# --------------------------------------------------------------------------------------------------------------
# an encoding override spelled as Python spells it ('euc_jp', accepted by parity.toml) is read by iconv's name


@pytest.mark.parametrize(("override", "iconv"), [
    ("euc_jp", "EUC-JP"), ("EUC-JP", "EUC-JP"), ("latin1", "ISO-8859-1"), ("iso8859_15", "ISO-8859-15"),
    ("cp1252", "CP1252"), ("shift_jis", "SHIFT_JIS"), ("iso2022_jp", "ISO-2022-JP"), ("mac_roman", "MACROMAN"),
    ("mac_latin2", "MACCENTRALEUROPE"), ("big5hkscs", "BIG5-HKSCS"), ("utf8", "UTF-8"), ("EUC-TW", "EUC-TW"),
    (None, None),
])
def test_an_override_is_passed_to_the_reader_by_its_iconv_name(override: str | None, iconv: str | None) -> None:
    assert reader_encoding(override) == iconv


def test_a_python_spelled_override_reads_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """encoding = 'euc_jp' passed parity.toml's check (a codec Python knows) and then failed the read ('File has an
    unsupported character set', with the advice to set the encoding that was set)."""
    monkeypatch.setitem(test_sas_lengths.ENCODING_BYTE, "EUC-JP", 134)  # ReadStat's code for EUC-JP
    values = ["日本", "abc"]
    path = sas_file(tmp_path / "d.sas7bdat", "EUC-JP", values, 4)
    frame = pl.DataFrame({"id": [1.0, 2.0], "s": values})
    for override in ("euc_jp", "EUC-JP", "eucjp"):
        result = compare_frames(path, frame, keys=["id"], encoding=override)
        assert result.verdict == "pass", (override, [(c.name, c.status, c.summary) for c in result.checks])
        assert result.sas["encoding"] == override  # the report names the override as the user spelled it
    with pytest.raises(InputError) as caught:  # a codec Python has and iconv lacks: the override is named
        compare_frames(path, frame, keys=["id"], encoding="palmos")
    assert "'palmos'" in str(caught.value) and "set for this dataset" in str(caught.value)


@pytest.mark.parametrize(("override", "header"), [
    ("iso2022_jp", "UTF-8"), ("big5hkscs", "UTF-8"), ("cp1258", "UTF-8"), (None, "SHIFT_JISX0213"),
    (None, "BIG5-HKSCS"), (None, "WINDOWS-1255"),
])
def test_stateful_encodings_are_read_in_one_piece_however_spelled(override: str | None, header: str) -> None:
    """iconv carries state from one value to the next in these encodings: chunked reads would differ from a whole
    read.  'SHIFT_JISX0213' (ReadStat's name) and Python's 'iso2022_jp' missed the list."""
    meta = SasMeta("sas7bdat", ("S",), {"S": "string"}, {"S": None}, {"S": None}, {"S": 8}, {"S": None}, None, header,
                   None, None, None)
    assert _chunk_rows(meta, 100, override) == 0
    assert _chunk_rows(meta, 100, "latin1") == 100


# --------------------------------------------------------------------------------------------------------------
# SAS truncates by bytes: a UTF-8 value cut inside a character is a SAS file, not a damaged one


def _cut_utf8_file(path: Path, middle: bool = False) -> Path:
    """A UTF-8 .sas7bdat whose S (LENGTH 4) holds 'ab' and two of the three bytes of '日' in row 1, as SAS stores
    'ab日本' assigned to a $4 variable; ``middle``: the cut bytes are followed by more text (not SAS's doing)."""
    rows = 300
    write_sas7bdat(path, [Column("ID", "numeric", [float(i + 1) for i in range(rows)]),
                          Column("S", "string", ["abQQ" if i == 0 else f"é{i % 10}" for i in range(rows)], length=4,
                                 label="libellé")], file_label="données")
    data = bytearray(path.read_bytes())
    at = data.index(b"abQQ")
    data[at:at + 4] = b"a" + "日".encode()[:2] + b"b" if middle else b"ab" + "日".encode()[:2]
    path.write_bytes(bytes(data))
    return path


def test_a_utf8_value_cut_inside_a_character_reads_as_sas_truncated_it(tmp_path: Path) -> None:
    path = _cut_utf8_file(tmp_path / "cut.sas7bdat")
    others = [f"é{i % 10}" for i in range(1, 300)]
    ids = [float(i + 1) for i in range(300)]
    same = compare_frames(path, pl.DataFrame({"id": ids, "s": ["ab", *others]}), keys=["id"])
    assert same.verdict == "pass", [(c.name, c.status, c.summary) for c in same.checks]
    assert same.sas["encoding"] == "UTF-8" and same.sas["label"] == "données"
    table = read_sas_whole(path)
    assert {c.name: c.label for c in table.columns}["S"] == "libellé"
    assert table.frame.get_column("S").to_list()[:2] == ["ab", "é1"]
    cut = compare_frames(path, pl.DataFrame({"id": ids, "s": ["ab日本", *others]}), keys=["id"])
    assert cut.verdict == "fail"
    equality = next(c for c in cut.checks if c.name == "string_equality")
    assert equality.status == "fail" and "length_truncation" in equality.summary


def test_bytes_that_are_not_utf8_inside_a_value_still_say_the_file_is_unreadable(tmp_path: Path) -> None:
    path = _cut_utf8_file(tmp_path / "bad.sas7bdat", middle=True)
    with pytest.raises(InputError, match=r"bad\.sas7bdat"):
        compare_frames(path, pl.DataFrame({"id": [1.0], "s": ["a"]}), keys=["id"])


def test_the_fast_path_says_why_a_cut_utf8_file_is_read_byte_for_byte(tmp_path: Path) -> None:
    from parity.sources.sas_fast import scan_sas_fast

    scan = scan_sas_fast(_cut_utf8_file(tmp_path / "cut.sas7bdat"))
    note = scan.provenance()["reader_note"]
    assert "not valid in the file's encoding" in note and "byte for byte" in note
    assert "cannot read it" not in note


@pytest.mark.parametrize(("name", "codec"), [
    ("wlatin1", "cp1252"), ("WLATIN2", "cp1250"), ("wcyrillic", "cp1251"), ("latin9", "iso8859-15"),
    ("shift-jis", "shift_jis"), ("ms-932", "cp932"), ("euc-cn", "gb2312"), ("pcoem850", "cp850"),
])
def test_sas_encoding_names_are_understood(name: str, codec: str) -> None:
    """A SAS programmer names an encoding as PROC CONTENTS shows it (wlatin1, not cp1252)."""
    import codecs

    found = python_codec(name)
    assert found is not None and codecs.lookup(found).name == codecs.lookup(codec).name


def test_encoding_wlatin1_in_parity_toml_reads_a_cp1252_file(tmp_path: Path) -> None:
    from parity.cli.main import main
    from tests.helpers import make_job

    jobs = tmp_path / "jobs"
    folder = make_job(jobs, "j", """
        [datasets.d]
        sas = "d.sas7bdat"
        python = "py.parquet"
        keys = ["id"]
        encoding = "wlatin1"
    """)
    values = ["café", "€uro"]
    sas_file(folder / "d.sas7bdat", "WINDOWS-1252", values, 4)
    pl.DataFrame({"id": [1.0, 2.0], "s": values}).write_parquet(folder / "py.parquet")
    assert main(["run", "j", "--jobs-dir", str(jobs), "--report-dir", str(tmp_path / "out")]) == 0
