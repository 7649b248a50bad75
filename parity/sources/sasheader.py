"""Fast, bounded reader of SAS file headers (sas7bdat and XPORT v5/v8).

Reads what PROC CONTENTS shows about a data set's provenance and physical form and what
pyreadstat's metadata lacks: the SAS release and host that wrote the file, its creation and
modification datetimes, bitness, byte order, platform, page geometry and compression.

Only the header (and, for sas7bdat compression, at most :data:`MAX_SCAN_BYTES` of the first
metadata pages) is read, so the function is cheap on multi-gigabyte files and bounded on
corrupt or hostile ones. Any problem with the file's content is reported as ``ValueError``
naming the file; I/O problems surface as ``OSError``.

Layout references: the sas7bdat description by Shotwell & Yu (as used by ReadStat's
``sas_read_header``, parso and pandas' ``sas7bdat.py``) and SAS technical note TS-140
(XPORT v5) with its v8 extension.
"""

from __future__ import annotations

import math
import os
import re
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, BinaryIO, Final, Literal

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "MAX_SCAN_BYTES", "MAX_SCAN_PAGES", "XPORT_YEARCUTOFF", "Compression", "SasHeader", "XportVariable",
    "read_header", "sas7bdat_column_count", "xport_missing_tags", "xport_variables",
]

Compression = Literal["none", "RLE", "RDC"]

#: Upper bound on bytes read while looking for the compression literal (sas7bdat).
MAX_SCAN_BYTES: Final = 2 * 1024 * 1024
#: Upper bound on pages visited while looking for the compression literal (sas7bdat).
MAX_SCAN_PAGES: Final = 64

_HEAD_BYTES: Final = 1024  # enough for every fixed sas7bdat header field and 8 XPORT records

_SAS7BDAT_MAGIC: Final = bytes.fromhex("000000000000000000000000c2ea8160b31411cfbd92080009c7318c181f1011")
_SAS7BCAT_MAGIC: Final = bytes.fromhex("000000000000000000000000c2ea8163b31411cfbd92080009c7318c181f1011")
_ALIGN_4: Final = 0x33
_SAS_EPOCH: Final = datetime(1960, 1, 1)

# ReadStat's sanity limits on the header length and page size.
_MIN_BLOCK: Final = 1024
_MAX_BLOCK: Final = 1 << 24

# Page types (pandas sas_constants): the compression literal lives in a metadata/mix page.
_PAGE_TYPE_MASK: Final = 0x0F00
_PAGE_DATA: Final = 0x0100
_PAGE_COMP: Final = 0x9000
_SUBHEADER_TEXT: Final = 0xFFFFFFFD
_SUBHEADER_COLUMN_SIZE: Final = 0xF6F6F6F6
_SUBHEADER_TRUNCATED: Final = 1
_SUBHEADER_COMPRESSED_ROW: Final = 4
_RLE_LITERAL: Final = b"SASYZCRL"
_RDC_LITERAL: Final = b"SASYZCR2"

_XPT_RECORD: Final = 80
_XPT_LIB_V5: Final = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
_XPT_LIB_V8: Final = b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"
_XPT_MEMBER: Final = (
    b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!",
    b"HEADER RECORD*******MEMBV8  HEADER RECORD!!!!!!!",
)
_XPT_HEADER_PREFIX: Final = b"HEADER RECORD*******"
_CPORT_MARKER: Final = b"**COMPRESSED** **COMPRESSED**"
_XPT_DATETIME: Final = re.compile(r"(\d\d)([A-Za-z]{3})(\d\d):(\d\d):(\d\d):(\d\d)")
_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
#: Two-digit XPORT years use SAS's YEARCUTOFF rule with the SAS 9.4M5+ default of 1940: 40..99 are
#: 19xx, 00..39 are 20xx. (A cutoff of 1926 would date files written in 2026 to 1926; XPORT itself
#: dates from the 1980s, so no real file is older than 1940.)
XPORT_YEARCUTOFF: Final = 1940


@dataclass(frozen=True)
class SasHeader:
    """Provenance and physical layout of one SAS file, as recorded in its header."""

    format: Literal["sas7bdat", "xport"]
    xport_version: int | None  # 5 or 8 for xpt
    sas_release: str | None  # e.g. "9.0401M5" (sas7bdat), "9.4" (xpt)
    host: str | None  # SAS server type / OS name, e.g. "X64_8PRO", "Linux", "XP_PRO"
    os_name: str | None  # sas7bdat OS name field, e.g. "x86_64"; None for xpt
    created: datetime | None  # naive (SAS stores the writer's local time, no zone)
    modified: datetime | None
    dataset_name: str | None
    encoding_code: int | None  # sas7bdat byte 70
    bitness: int | None  # 32 / 64 (sas7bdat)
    endianness: Literal["little", "big"] | None
    platform: Literal["unix", "windows"] | None
    page_size: int | None
    page_count: int | None
    compression: Compression | None  # sas7bdat only; None when unknown and for xpt
    os_version: str | None = None  # sas7bdat OS version field, e.g. "3.10.0-1160.11.1"


def read_header(path: str | os.PathLike[str]) -> SasHeader:
    """Read the header of a ``.sas7bdat`` or XPORT (``.xpt``) file.

    Raises ``ValueError`` (naming the file) when it is not a SAS data file, is truncated or has
    an impossible header; ``OSError`` when it cannot be opened or read.
    """
    name = os.fspath(path)
    mode = os.stat(name).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a FIFO or device could block or never end
        raise ValueError(f"{name}: not a regular file")
    try:
        with open(name, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(_HEAD_BYTES)
            if head.startswith(_SAS7BDAT_MAGIC):
                return _read_sas7bdat(f, head, size, name)
            if head.startswith((_XPT_LIB_V5, _XPT_LIB_V8)):
                return _read_xport(head, name)
            raise _not_sas(head, name)
    except (ValueError, OSError):
        raise
    except Exception as exc:  # struct/unicode/overflow surprises on hostile input: report as bad file
        raise ValueError(f"{name}: unreadable SAS header ({type(exc).__name__}: {exc})") from exc


def _not_sas(head: bytes, name: str) -> ValueError:
    if not head:
        return ValueError(f"{name}: empty file, not a SAS file")
    if head.startswith(_SAS7BCAT_MAGIC):
        return ValueError(f"{name}: is a SAS format catalog (sas7bcat), not a data set")
    if _CPORT_MARKER in head[: _XPT_RECORD * 2]:
        return ValueError(f"{name}: is a SAS CPORT transport file, not XPORT; read it with PROC CIMPORT")
    for prefix in (_SAS7BDAT_MAGIC, _XPT_LIB_V5, _XPT_LIB_V8):
        if len(head) < len(prefix) and prefix.startswith(head):
            return ValueError(f"{name}: truncated SAS file ({len(head)} bytes)")
    return ValueError(f"{name}: not a SAS file (neither sas7bdat magic number nor XPORT library header)")


# --------------------------------------------------------------------------------------------- sas7bdat


def _read_sas7bdat(f: BinaryIO, head: bytes, size: int, name: str) -> SasHeader:
    u64 = head[32] == _ALIGN_4 if len(head) > 32 else False
    pad = 4 if len(head) > 35 and head[35] == _ALIGN_4 else 0
    a2 = 4 if u64 else 0
    text_end = 216 + pad + a2 + 8 + 16 * 4  # end of the OS name field
    if len(head) < text_end:
        raise ValueError(f"{name}: truncated sas7bdat header ({len(head)} of {text_end} bytes)")

    endian_byte = head[37]
    if endian_byte not in (0x00, 0x01):
        raise ValueError(f"{name}: corrupt sas7bdat header (endianness byte 0x{endian_byte:02x})")
    little = endian_byte == 0x01
    e = "<" if little else ">"

    created_raw, modified_raw = struct.unpack_from(e + "dd", head, 164 + pad)
    header_length, page_size = struct.unpack_from(e + "II", head, 196 + pad)
    (page_count,) = struct.unpack_from(e + ("Q" if u64 else "I"), head, 204 + pad)
    for what, value in (("header length", header_length), ("page size", page_size)):
        if not _MIN_BLOCK <= value <= _MAX_BLOCK:
            raise ValueError(
                f"{name}: corrupt sas7bdat header ({what} {value} outside {_MIN_BLOCK}..{_MAX_BLOCK})"
            )
    expected = header_length + page_count * page_size
    if size < expected:
        raise ValueError(
            f"{name}: truncated sas7bdat file ({size} bytes; header declares {header_length} + "
            f"{page_count} pages x {page_size} = {expected})"
        )

    rel = 216 + pad + a2
    platform_byte = head[39:40]
    platform: Literal["unix", "windows"] | None = (
        "unix" if platform_byte == b"1" else "windows" if platform_byte == b"2" else None
    )
    return SasHeader(
        format="sas7bdat",
        xport_version=None,
        sas_release=_text(head[rel : rel + 8]),
        host=_text(head[rel + 8 : rel + 24]),
        os_name=_text(head[rel + 56 : rel + 72]),
        created=_sas_datetime(created_raw),
        modified=_sas_datetime(modified_raw),
        dataset_name=_text(head[92:156]),
        encoding_code=head[70],
        bitness=64 if u64 else 32,
        endianness="little" if little else "big",
        platform=platform,
        page_size=page_size,
        page_count=page_count,
        compression=_sas7bdat_compression(f, header_length, page_size, page_count, u64, e),
        os_version=_text(head[rel + 24 : rel + 40]),
    )


def _sas7bdat_compression(
    f: BinaryIO, header_length: int, page_size: int, page_count: int, u64: bool, e: str
) -> Compression | None:
    """Compression named in the first column-text subheader, or None if none is found in bounds.

    Walks the subheader pointers of the first metadata pages (at most MAX_SCAN_PAGES pages and
    MAX_SCAN_BYTES bytes) like pandas/ReadStat do, and checks the first column-text subheader for
    the RLE ("SASYZCRL") or RDC ("SASYZCR2") literal; without either the file is uncompressed.
    """
    for signature, block in _sas7bdat_subheaders(f, header_length, page_size, page_count, u64, e):
        if signature != _SUBHEADER_TEXT:
            continue
        if _RLE_LITERAL in block:
            return "RLE"
        if _RDC_LITERAL in block:
            return "RDC"
        return "none"
    return None


def _sas7bdat_subheaders(
    f: BinaryIO, header_length: int, page_size: int, page_count: int, u64: bool, e: str
) -> Iterator[tuple[int, bytes]]:
    """(signature, bytes) of each uncompressed subheader on the first metadata pages, within the scan bounds."""
    page_header = 32 if u64 else 16
    int_len = 8 if u64 else 4
    ptr_len = 3 * int_len  # offset, length, compression/type flags + padding
    int_fmt = e + ("Q" if u64 else "I")
    budget = MAX_SCAN_BYTES
    for index in range(min(page_count, MAX_SCAN_PAGES)):
        if budget <= 0:
            break
        f.seek(header_length + index * page_size)
        page = f.read(min(page_size, budget))
        budget -= len(page)
        if len(page) < page_header + 8:
            break
        page_type, _, subheader_count = struct.unpack_from(e + "HHH", page, page_header)
        if page_type == _PAGE_COMP:
            continue
        if page_type & _PAGE_TYPE_MASK == _PAGE_DATA:
            break  # metadata is over: data pages follow the metadata pages
        for k in range(subheader_count):
            ptr = page_header + 8 + k * ptr_len
            if ptr + ptr_len > len(page):
                break
            (offset,) = struct.unpack_from(int_fmt, page, ptr)
            (length,) = struct.unpack_from(int_fmt, page, ptr + int_len)
            flag = page[ptr + 2 * int_len]
            if length < 8 or flag in (_SUBHEADER_TRUNCATED, _SUBHEADER_COMPRESSED_ROW):
                continue
            if offset + length > len(page):
                continue
            (signature,) = struct.unpack_from(e + "I", page, offset)
            if u64 and e == ">" and signature in (0xFFFFFFFF, 0):
                (signature,) = struct.unpack_from(e + "I", page, offset + 4)
            yield signature, page[offset : offset + length]


def sas7bdat_column_count(path: str | os.PathLike[str]) -> int | None:
    """The number of variables a sas7bdat file declares (its column-size subheader), None when not found.

    For explaining reader failures: a valid data set with zero variables is not a corrupt file.
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        head = f.read(_HEAD_BYTES)
        if not head.startswith(_SAS7BDAT_MAGIC) or len(head) < 240:
            return None
        u64 = head[32] == _ALIGN_4
        pad = 4 if head[35] == _ALIGN_4 else 0
        e = "<" if head[37] == 0x01 else ">"
        header_length, page_size = struct.unpack_from(e + "II", head, 196 + pad)
        (page_count,) = struct.unpack_from(e + ("Q" if u64 else "I"), head, 204 + pad)
        if not (_MIN_BLOCK <= header_length <= _MAX_BLOCK and _MIN_BLOCK <= page_size <= _MAX_BLOCK):
            return None
        int_len = 8 if u64 else 4
        for signature, block in _sas7bdat_subheaders(f, header_length, page_size, page_count, u64, e):
            if signature == _SUBHEADER_COLUMN_SIZE and len(block) >= 2 * int_len:
                (count,) = struct.unpack_from(e + ("Q" if u64 else "I"), block, int_len)
                return int(count)
    return None


def _sas_datetime(seconds: float) -> datetime | None:
    """SAS datetime (seconds since 1960-01-01, writer's local time) as a naive datetime."""
    if not math.isfinite(seconds):
        return None
    try:
        return _SAS_EPOCH + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


def _text(raw: bytes) -> str | None:
    """Header text field: up to the first NUL, blanks stripped; None when empty.

    Decoded as UTF-8 when valid (SAS names may hold national characters), else as Latin-1, so
    decoding never fails.
    """
    field = raw.split(b"\x00", 1)[0]
    try:
        value = field.decode("utf-8")
    except UnicodeDecodeError:
        value = field.decode("latin-1")
    return value.strip() or None


# --------------------------------------------------------------------------------------------- XPORT


def _read_xport(head: bytes, name: str) -> SasHeader:
    records = [head[i : i + _XPT_RECORD] for i in range(0, len(head) - _XPT_RECORD + 1, _XPT_RECORD)]
    if len(records) < 3:
        raise ValueError(f"{name}: truncated XPORT file ({len(head)} bytes, library header needs 240)")
    version = 8 if records[0].startswith(_XPT_LIB_V8) else 5
    real = records[1]
    if not real.startswith(b"SAS     SAS     SASLIB"):
        raise ValueError(f"{name}: corrupt XPORT library header (first real header record is {real[:24]!r})")

    dataset_name: str | None = None
    tail = head[3 * _XPT_RECORD :]
    if tail.strip(b" \x00"):  # a member follows (an empty library is just the 3 library records)
        if len(records) < 6:
            raise ValueError(f"{name}: truncated XPORT file ({len(head)} bytes, member header incomplete)")
        if records[3].startswith(_XPT_MEMBER) and records[5].startswith(b"SAS     "):
            dataset_name = _text(records[5][8 : 40 if version == 8 else 16])
        elif not records[3].startswith(_XPT_HEADER_PREFIX):
            raise ValueError(f"{name}: corrupt XPORT file (no member header after the library header)")

    return SasHeader(
        format="xport",
        xport_version=version,
        sas_release=_text(real[24:32]),
        host=_text(real[32:40]),
        os_name=None,
        created=_xpt_datetime(real[64:80]),
        modified=_xpt_datetime(records[2][0:16]),
        dataset_name=dataset_name,
        encoding_code=None,
        bitness=None,
        endianness=None,
        platform=None,
        page_size=None,
        page_count=None,
        compression=None,
    )


def _xpt_datetime(raw: bytes) -> datetime | None:
    """XPORT ``ddMMMyy:hh:mm:ss`` text (month in any case), two-digit years per XPORT_YEARCUTOFF."""
    match = _XPT_DATETIME.fullmatch(raw.decode("latin-1").strip())
    if match is None:
        return None
    day, mon, yy, hh, mi, ss = match.groups()
    month = _MONTHS.get(mon.upper())
    if month is None:
        return None
    year = 1900 + int(yy)
    if year < XPORT_YEARCUTOFF:
        year += 100
    try:
        return datetime(year, month, int(day), int(hh), int(mi), int(ss))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------- XPORT members

_XPT_TAGS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_"


@dataclass(frozen=True)
class XportVariable:
    """One variable of an XPORT member as its NAMESTR record declares it."""

    name: str
    numeric: bool
    length: int
    position: int  # offset of the value in an observation (ReadStat's: the lengths of the variables before it)


def _xpt_header_name(record: bytes) -> tuple[str, int, int]:
    """(name, num1, num2) of an ``HEADER RECORD*******<name> HEADER RECORD!!!!!!!<numbers>`` record."""
    if not record.startswith(_XPT_HEADER_PREFIX) or len(record) < _XPT_RECORD:
        raise ValueError("not an XPORT header record")
    name = record[20:28].decode("latin-1").strip()
    fields = [record[i : i + 5].decode("latin-1").strip() for i in (48, 53)]  # "%05d%05d", maybe blank-padded
    num1, num2 = (int(text) if text.isdigit() else 0 for text in fields)
    return name, num1, num2


def _xpt_layout(f: BinaryIO, name: str) -> tuple[list[XportVariable], int]:
    """The first member's variables and the file offset where its observations start."""
    head = f.read(8 * _XPT_RECORD)
    if len(head) < 8 * _XPT_RECORD or not head.startswith((_XPT_LIB_V5, _XPT_LIB_V8)):
        raise ValueError(f"{name}: not an XPORT file with a member")
    version = 8 if head.startswith(_XPT_LIB_V8) else 5
    member = head[3 * _XPT_RECORD : 4 * _XPT_RECORD]
    size_text = member[74:78].decode("latin-1")
    namestr_size = int(size_text) if size_text.isdigit() else 140
    if namestr_size not in (136, 140):
        raise ValueError(f"{name}: corrupt XPORT member header (NAMESTR size {size_text!r})")
    _, _, count = _xpt_header_name(head[7 * _XPT_RECORD :])
    raw = f.read(count * namestr_size)
    if len(raw) < count * namestr_size:
        raise ValueError(f"{name}: truncated XPORT file (NAMESTR records of {count} variables)")
    variables: list[XportVariable] = []
    position = 0
    for i in range(count):
        rec = raw[i * namestr_size : (i + 1) * namestr_size]
        ntype, _, length = struct.unpack_from(">hhh", rec, 0)
        long_name = _text(rec[88:120]) if version == 8 and namestr_size == 140 else None
        variables.append(XportVariable(long_name or _text(rec[8:16]) or f"VAR{i + 1}", ntype == 1, length, position))
        position += length
    _skip_to_record(f)
    label, labels, _ = _xpt_header_name(f.read(_XPT_RECORD))
    if label in ("LABELV8", "LABELV9"):
        fields = 3 if label == "LABELV8" else 5
        for _ in range(labels):
            sizes = struct.unpack(f">{fields}H", f.read(2 * fields))
            f.seek(sum(sizes[1:]), os.SEEK_CUR)
        _skip_to_record(f)
        label, _, _ = _xpt_header_name(f.read(_XPT_RECORD))
    if label not in ("OBS", "OBSV8"):
        raise ValueError(f"{name}: corrupt XPORT file (no OBS header record after the variables, got {label!r})")
    return variables, f.tell()


def _skip_to_record(f: BinaryIO) -> None:
    rest = f.tell() % _XPT_RECORD
    if rest:
        f.seek(_XPT_RECORD - rest, os.SEEK_CUR)


def xport_variables(path: str | os.PathLike[str]) -> list[XportVariable]:
    """The variables of the first member of an XPORT file, in file order."""
    name = os.fspath(path)
    with open(name, "rb") as f:
        return _xpt_layout(f, name)[0]


def xport_missing_tags(path: str | os.PathLike[str], rows: int) -> list[np.ndarray | None]:
    """Per variable (file order): the special missing tag of each of the first ``rows`` observations.

    For a numeric variable, an array of ``"A"``-``"Z"``/``"_"`` where the value is that special missing value and
    ``""`` elsewhere; ``None`` for a character variable.  In XPORT a missing value is its tag's byte (``.`` for
    plain missing) followed by zero bytes.
    """
    import numpy as np

    name = os.fspath(path)
    with open(name, "rb") as f:
        variables, start = _xpt_layout(f, name)
        width = sum(v.length for v in variables)
        f.seek(start)
        data = f.read(rows * width) if width else b""
    if len(data) < rows * width:
        raise ValueError(f"{name}: truncated XPORT file ({len(data)} bytes of observations, expected {rows * width})")
    table = np.frombuffer(data, dtype=np.uint8).reshape(rows, width) if width else np.zeros((rows, 0), np.uint8)
    tag_bytes = np.frombuffer(_XPT_TAGS, dtype=np.uint8)
    _TAG_TEXT = np.array([chr(b) if b in _XPT_TAGS else "" for b in range(256)])
    out: list[np.ndarray | None] = []
    for var in variables:
        if not var.numeric or not 2 <= var.length <= 8:
            out.append(None)
            continue
        cells = table[:, var.position : var.position + var.length]
        first = cells[:, 0]
        tagged = np.isin(first, tag_bytes) & ~cells[:, 1:].any(axis=1)
        out.append(np.where(tagged, _TAG_TEXT[first], ""))
    return out
