"""Explaining differences: the diff signatures of ../docs/sas-semantics.md turned into named diagnoses.

Each rule looks at the mismatching value pairs of one column (SAS value x, Python value y, in SAS units) and says
which of them it explains.  Rules are pure functions over plain Python values, so they are easy to test and give
the same answer every run.

An approver acts on a diagnosis, so a wrong cause is worse than none.  Hence:

* a *cause* (rounding, epoch, encoding, ...) is named for a column only when it explains most (more than half) of
  the column's differences, not counting those a missing-pattern cause explains (``Column.domain``);
* the pairs with a value on one side only are partitioned into *missing patterns* (SAS ``.`` vs Python ``inf``,
  ``0``, a number; special missing vs null; a value vs null; blank vs null; missing written as text), each
  reported with its own count;
* a *shape* (see ``GENERIC``) only describes a difference; shapes are listed after the causes, and a diagnosis
  whose rows an earlier one already explains is dropped.

docs/checks.md ("Explanations") lists every code with its exact signature.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache

from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS, SAS_EPOCH_DT
from parity.values import DIFF_UNITS

#: the first pairs (by key) analysed per column; shares are of this sample
MAX_PAIRS = 20_000

DAY = 86400.0
#: days since 1960 of 1900-01-01 and 2100-12-31: the range in which a number is a plausible SAS date
SAS_DAY_RANGE = (-21914.0, 51134.0)
#: days between 1899-12-30 (Excel serial 0) and 1960-01-01
EXCEL_SHIFT_DAYS = 21916


@dataclass(frozen=True)
class Pair:
    sas: float | str | None
    python: float | str | None
    sas_tag: str | None = None  # special missing tag of the SAS value ('A'..'Z', '_')


@dataclass(frozen=True)
class Explanation:
    code: str
    rows: int
    message: str
    hint: str
    #: positions (in the analysed pairs) of the rows explained
    idx: frozenset[int] = field(default=frozenset(), compare=False, repr=False)

    def to_dict(self, total: int) -> dict[str, object]:
        return {"code": self.code, "rows": self.rows, "share": round(self.rows / total, 6) if total else 0.0,
                "analysed": total, "message": self.message, "hint": self.hint}


def _exp(code: str, idx: Iterable[int], message: str, hint: str) -> Explanation:
    rows = frozenset(idx)
    return Explanation(code, len(rows), message, hint, rows)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _blank(v: object) -> bool:
    return isinstance(v, str) and not v.strip(" ")


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


@dataclass(frozen=True)
class Column:
    """One column's mismatching pairs with what the rules need to know about it."""

    pairs: Sequence[Pair]
    kind: str
    length: int | None = None
    name: str | None = None
    sas_format: str | None = None
    #: the SAS file's encoding (None: unknown, e.g. a DataFrame standing for the SAS side)
    encoding: str | None = None

    @cached_property
    def values(self) -> list[tuple[int, float, float]]:
        """(position, SAS, Python) of the pairs with a finite number on both sides: the domain of number causes."""
        out = []
        for i, p in enumerate(self.pairs):
            if _is_number(p.sas) and _is_number(p.python):
                s, y = float(p.sas), float(p.python)  # type: ignore[arg-type]
                if math.isfinite(s) and math.isfinite(y) and s != y:
                    out.append((i, s, y))
        return out

    @cached_property
    def strings(self) -> list[tuple[int, str, str]]:
        """(position, SAS, Python) of the pairs with a string on both sides: the domain of string causes."""
        return [(i, p.sas, p.python) for i, p in enumerate(self.pairs)
                if isinstance(p.sas, str) and isinstance(p.python, str) and not _blank(p.sas) and not _blank(p.python)]

    @cached_property
    def missing(self) -> list[Explanation]:
        """The missing patterns of the pairs with a value on one side only."""
        return missing_patterns(self)

    @cached_property
    def domain(self) -> int:
        """The differences a cause must explain most of: all pairs but those a missing-pattern cause explains."""
        explained = {i for e in self.missing if e.code not in GENERIC for i in e.idx}
        return len(self.pairs) - len(explained)

    def most(self, n: int) -> bool:
        """The majority rule: a cause is named only when it explains more than half of the column's differences
        (those no missing-pattern cause explains)."""
        return most(n, self.domain)

    @property
    def label(self) -> str:
        return self.name if self.name else "<column>"


def most(n: int, total: int) -> bool:
    """The majority rule: a cause is named only when it explains more than half of its domain."""
    return total > 0 and 2 * n > total


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def _scaled(x: float, k: int) -> int | None:
    """x in units of 10^-k, when x is (within float precision) a whole number of them."""
    v = x * 10.0**k if k >= 0 else x / 10.0 ** (-k)
    n = round(v)
    return n if abs(v - n) <= max(1e-6, 1e-12 * abs(v)) else None


Rule = Callable[[Column], list[Explanation]]


# ---- missing patterns: the pairs with a value on one side only, each reported with its count


#: texts a program writes for a missing value (pandas astype(str), str(None), SAS PUT of .)
MISSING_TEXTS = frozenset({"nan", "NaN", "None", "<NA>", "NaT", "null", "NULL", "."})


def missing_patterns(col: Column) -> list[Explanation]:
    inf: list[int] = []
    zero: list[int] = []
    special: list[int] = []
    sas_missing: list[int] = []
    py_missing: list[int] = []
    as_text: list[int] = []
    blank_null: list[int] = []
    string = col.kind == "string"
    for i, p in enumerate(col.pairs):
        s_miss, p_miss = _missing(p.sas), _missing(p.python)
        if string:  # a blank is SAS's missing character value
            s_miss, p_miss = s_miss or _blank(p.sas), p_miss or _blank(p.python)
        if s_miss and p_miss:
            if p.sas_tag:
                special.append(i)
            elif string and (p.sas is None) != (p.python is None):
                blank_null.append(i)
        elif s_miss:
            if string and p.python in MISSING_TEXTS:
                as_text.append(i)
            elif _is_number(p.python) and math.isinf(p.python):  # type: ignore[arg-type]
                inf.append(i)
            elif p.python == 0 and p.sas_tag is None and col.kind == "numeric":  # not 1960-01-01 / midnight
                zero.append(i)
            else:
                sas_missing.append(i)
        elif p_miss:
            if string and p.sas in MISSING_TEXTS:
                as_text.append(i)
            else:
                py_missing.append(i)
    # SAS . vs Python 0 is SUM() of all-missing when it is most of the SAS-missing/Python-number pairs; a stray 0
    # among many numbers is one more value the port has where SAS has none
    if zero and not most(len(zero), len(zero) + len(sas_missing)):
        sas_missing = sorted(sas_missing + zero)
        zero = []
    out = []
    if inf:
        out.append(_exp("division_by_zero", inf,
                        f"{len(inf)} value(s) are missing in SAS but infinite in Python: division by zero",
                        "SAS gives . for x/0; in the port map inf to null (e.g. .replace(inf, None))"))
    if zero:
        out.append(_exp("sum_of_missing", zero,
                        f"{len(zero)} value(s) are missing in SAS but 0 in Python: SAS SUM() of all-missing is .",
                        "use min_count=1 (pandas) or null when all inputs are null (polars)"))
    if special:
        out.append(_exp("special_missing", special,
                        f"{len(special)} SAS special missing value(s) (.A-.Z, ._) are plain missing in Python",
                        "set numbers.special_missing = 'as_missing' if the port cannot keep them"))
    if as_text:
        out.append(_exp("missing_as_text", as_text,
                        f"{len(as_text)} value(s) are missing on one side and a missing marker written as text "
                        "('nan', 'None', '.', ...) on the other",
                        "keep missing values null instead of converting them to text (pandas astype(str), "
                        "str(None), SAS PUT of a missing number)"))
    if blank_null:
        out.append(_exp("blank_vs_null", blank_null,
                        f"{len(blank_null)} value(s) are blank on one side and null on the other",
                        "SAS has no null character value: a blank is its missing value; set "
                        "strings.blank_is_missing = true (the default), or write blanks in the port"))
    what = "blank" if string else "missing"
    if sas_missing:
        out.append(_exp("missing_in_sas", sas_missing,
                        f"{len(sas_missing)} value(s) are {what} in SAS but present in Python",
                        "where SAS yields missing the port computes a value: SAS + and most functions propagate "
                        "missing, invalid data and failed lookups give missing, and missing is smallest in "
                        "comparisons (if x < 5 is true for x = .)"))
    if py_missing:
        out.append(_exp("missing_in_python", py_missing,
                        f"{len(py_missing)} value(s) are present in SAS but {what} in Python",
                        "the port loses values SAS keeps: SUM(a, b) ignores missing where Python a + b gives "
                        "null, a join or lookup that did not match, a parse or cast that failed to null"))
    return out


def _missing_found(col: Column) -> list[Explanation]:
    return col.missing  # computed once: the majority rule needs it too


# ---- numbers


def rounding_mode(col: Column) -> list[Explanation]:
    """SAS ROUND (half away from zero) vs Python's half-to-even rounding.

    From rounded values alone a half-way case cannot always be seen.  A pair is *shaped* like one when the values
    differ by exactly one unit 10^-k of a decimal place k at which both are whole, with SAS farther from zero
    (same sign).  Truncation (1.24 vs 1.23), CEIL vs FLOOR or swapped values make such pairs too, so the column
    must also show one of the two half-to-even fingerprints over its shaped pairs:

    * numpy / pandas / polars (which scale and round half to even): the Python digit at place k is even in at
      least 85% of them (about 94% on real data; truncation gives 50%);
    * builtin round() (correctly rounded on the double): in at least 95% of them the double nearest the half-way
      point lies on Python's side of it (2.675 is 2.67499999...), or is exactly the half-way point and Python's
      digit is even (truncation gives about 50%).

    And the shaped pairs must be most of the column's value pairs.  Then all shaped pairs are explained.
    """
    if col.kind != "numeric":
        return []
    values = col.values
    shaped: list[int] = []
    places: Counter[int] = Counter()
    even = builtin = 0
    for i, s, p in values:
        if abs(s) <= abs(p) or (p != 0 and (s > 0) != (p > 0)):
            continue
        d = abs(s - p)
        k = -math.floor(math.log10(d) + 1e-9)
        if not -15 <= k <= 15 or not _close(d, 10.0**-k, 1e-6):
            continue
        s_int, p_int = _scaled(abs(s), k), _scaled(abs(p), k)
        if s_int is None or p_int is None or s_int - p_int != 1:
            continue
        shaped.append(i)
        places[k] += 1
        even += p_int % 2 == 0
        half = Decimal(s_int + p_int) / 2 * Decimal(10) ** -k
        nearest = Decimal(float(half))
        builtin += nearest < half or (nearest == half and p_int % 2 == 0)
    n = len(shaped)
    if not col.most(n) or (even < 0.85 * n and builtin < 0.95 * n):
        return []
    k = min(places, key=lambda place: (-places[place], place))
    where = ", ".join(f"{10.0 ** -place:g}" for place in sorted(places, key=lambda place: (-places[place], place)))
    which = "even" if even >= 0.85 * n else "binary-nearer"
    return [_exp(
        "rounding_half_even", shaped,
        f"{n} value(s) differ by one rounding unit ({where}) with SAS farther from zero and Python on the {which} "
        "neighbour: SAS ROUND rounds halves away from zero, Python (round, numpy, pandas, polars) rounds half to "
        "even",
        (f"in the port use polars .round({k}, mode='half_away_from_zero') or Decimal(...).quantize(ROUND_HALF_UP)"
         if k >= 0 else f"in the port round x / {10 ** -k} with polars .round(0, mode='half_away_from_zero') and "
         f"multiply back, or use Decimal(...).quantize(ROUND_HALF_UP)"),
    )]


def _round_sig(x: float, n: int) -> float:
    return float(f"{x:.{n - 1}e}")


def _sig_digits(x: float) -> int:
    """Significant digits of the shortest text of x (0.333 -> 3, 2.0 -> 1, 1e-05 -> 1)."""
    return max(len(repr(abs(x)).split("e")[0].replace(".", "").strip("0")), 1)


def _decimals(x: float) -> int:
    """Decimal places of the shortest text of x (123.45 -> 2, 2.0 -> 0, 1e-05 -> 5)."""
    text = repr(abs(x))
    if "e" in text or "n" in text:  # 1e-05, inf, nan
        exponent = Decimal(text).normalize().as_tuple().exponent
        return max(-exponent, 0) if isinstance(exponent, int) else 0
    return len(text.partition(".")[2].rstrip("0"))


def _rounded_fit(values: list[tuple[int, float, float]], places: Callable[[float], int],
                 rounds: Callable[[float, float, int], bool], lo: int, hi: int
                 ) -> tuple[int, list[int], str, float] | None:
    """The precision n (in lo..hi) at which most pairs have one side the other rounded: the most common precision
    of the rounded side among the fitting pairs (the larger on ties).  Returns n, the pairs that fit it, the side
    that is rounded and the median relative difference of those pairs."""
    counts: Counter[int] = Counter()
    for _, s, p in values:
        for exact, rounded in ((s, p), (p, s)):
            n = places(rounded)
            if lo <= n <= hi and rounds(exact, rounded, n):
                counts[n] += 1
                break
    if not counts:
        return None
    n = max(sorted(counts, reverse=True), key=lambda c: counts[c])
    rows, py_side, rel = [], 0, []
    for i, s, p in values:
        py_rounded = rounds(s, p, n) and places(p) <= n
        if py_rounded or (rounds(p, s, n) and places(s) <= n):
            rows.append(i)
            py_side += py_rounded
            rel.append(abs(s - p) / max(abs(s), abs(p)))
    if not rows:
        return None
    return n, rows, "Python" if 2 * py_side >= len(rows) else "SAS", sorted(rel)[len(rel) // 2]


def _sig_rounds(exact: float, rounded: float, n: int) -> bool:
    return _round_sig(exact, n) == rounded


def _dec_rounds(exact: float, rounded: float, n: int) -> bool:
    return abs(exact - rounded) < 0.5 * 10.0**-n * (1 - 1e-9) and _decimals(exact) > n  # ties: rounding_mode


def _constant_difference(values: list[tuple[int, float, float]], atol: float = 0.0) -> bool:
    """Two or more pairs, all differing by the same amount (within 1e-9 of it, or atol): a shift, not a
    rounding."""
    if len(values) < 2:
        return False
    d0 = values[0][2] - values[0][1]
    return all(abs(p - s - d0) <= max(1e-9 * abs(d0), atol) for _, s, p in values)


def rounded_side(col: Column) -> list[Explanation]:
    """One side is the other rounded: to N significant digits (3-15: a text export such as CSV or Dataset-JSON
    keeps N digits) or to k decimal places (0-9: a ROUND or a format in one program only).

    The precision is the most common one of the rounded side among the pairs that fit it.  Float noise (0.1 + 0.2
    vs 0.3) is told apart by the size of the differences: rounding leaves relative differences of about 10^-N
    (absolute 10^-k), so their median must be at least 10^-(N+3) (the rounded value times 10^-(k+3)).  Where both
    fit, the one explaining more pairs wins; on a tie (values of one magnitude) N >= 10 digits is an export."""
    if col.kind != "numeric":
        return []
    values = [(i, s, p) for i, s, p in col.values if s != 0 and p != 0 and abs(s - p) <= 5e-3 * max(abs(s), abs(p))]
    sig = _rounded_fit(values, _sig_digits, _sig_rounds, 3, 15)
    dec = _rounded_fit([(i, s, p) for i, s, p in col.values if s != 0 or p != 0], _decimals, _dec_rounds, 0, 9)
    if sig and sig[3] < 10.0 ** -(sig[0] + 3):
        sig = None
    if dec:
        chosen = set(dec[1])
        typical = sorted(max(abs(s), abs(p)) for i, s, p in col.values if i in chosen)[len(chosen) // 2]
        if dec[3] * typical < 10.0 ** -(dec[0] + 3):
            dec = None
    if _constant_difference(col.values):
        return []  # a shift (constant_offset), not a rounding
    if sig and col.most(len(sig[1])) and (
            not dec or len(sig[1]) > len(dec[1]) or (len(sig[1]) == len(dec[1]) and sig[0] >= 10)):
        n, rows, side, _ = sig
        return [_exp(
            "significant_digits", rows,
            f"{len(rows)} value(s) match once rounded to {n} significant digits ({side} side): the data went "
            "through a text export (CSV, Dataset-JSON, ...) that kept only that many digits",
            f"compare with tolerance method = 'relative', criterion = 1e-{n - 1}, or read the original "
            "SAS/Python values instead of the export",
        )]
    if dec and col.most(len(dec[1])):
        k, rows, side, _ = dec
        other = "SAS" if side == "Python" else "Python"
        unit = f"{10.0 ** -k:g}"
        return [_exp(
            "decimal_places", rows,
            f"{len(rows)} value(s) match once the {other} value is rounded to {k} decimal place(s): the {side} "
            f"values are rounded (ROUND(x, {unit}), a format or a fixed-decimal export) and the {other} values "
            "are not",
            f"round in the {other} program too (SAS ROUND(x, {unit}) rounds halves away from zero: polars "
            f".round({k}, mode='half_away_from_zero')), or compare with tolerance method = 'absolute', "
            f"criterion = {0.5 * 10.0 ** -k:g} if the rounding is only for display",
        )]
    return []


def float_noise(col: Column) -> list[Explanation]:
    """Relative differences of at most 1e-12 between plain numbers (not dates: there they are real shifts).

    Noise is scattered: every difference the same and more than a few ulps (2e9 + 0.0004) is a shift."""
    if col.kind != "numeric":
        return []
    values = col.values
    idx = [i for i, s, p in values if s != p and abs(p - s) <= 1e-12 * max(abs(s), abs(p))]
    if not col.most(len(idx)):
        return []
    if _constant_difference(values) and \
            abs(values[0][2] - values[0][1]) > 4 * max(math.ulp(max(abs(s), abs(p))) for _, s, p in values):
        return []
    return [_exp(
        "float_noise", idx,
        f"{len(idx)} value(s) differ by less than 1e-12 relative: floating-point summation order noise",
        "set tolerance method = 'relative', criterion = 1e-12 (or PROC COMPARE's criterion = -1000)",
    )]


def storage_truncation(col: Column) -> list[Explanation]:
    """The SAS value is exactly the Python double with its low 8 * (8 - LENGTH) bits zeroed."""
    import struct

    if col.kind != "numeric" or not col.length or not 3 <= col.length < 8:
        return []
    mask = ((1 << 64) - 1) ^ ((1 << (64 - 8 * col.length)) - 1)

    def truncated(x: float) -> float:
        bits = struct.unpack("<Q", struct.pack("<d", x))[0] & mask
        return float(struct.unpack("<d", struct.pack("<Q", bits))[0])

    values = col.values
    idx = [i for i, s, p in values if truncated(p) == s]
    if not col.most(len(idx)):
        return []
    return [_exp(
        "storage_truncation", idx,
        f"{len(idx)} value(s) match once the Python value is truncated to SAS's {col.length}-byte storage "
        f"(LENGTH {col.length})",
        "keep numbers.storage = 'truncate' (the default) or give the SAS variable LENGTH 8",
    )]


def floor_vs_trunc(col: Column) -> list[Explanation]:
    """Integers one apart on the negative side only, all in one direction: INT (toward zero) vs floor."""
    if col.kind != "numeric":
        return []
    values = col.values
    py_floor = [i for i, s, p in values if s.is_integer() and p == s - 1 and p < 0]
    sas_floor = [i for i, s, p in values if s.is_integer() and s == p - 1 and s < 0]
    out = []
    if col.most(len(py_floor)):
        out.append(_exp("floor_vs_trunc", py_floor,
                        f"{len(py_floor)} negative integer(s) one lower in Python: SAS INT truncates toward "
                        "zero, floor rounds down", "use trunc (np.trunc / polars .truncate) instead of floor"))
    if col.most(len(sas_floor)):
        out.append(_exp("floor_vs_trunc", sas_floor,
                        f"{len(sas_floor)} negative integer(s) one higher in Python: SAS FLOOR rounds down, "
                        "Python int() / astype(int) truncates toward zero", "use floor (np.floor / polars "
                        ".floor) in the port where SAS uses FLOOR"))
    return out


# ---- dates and times


def _constant_shift(col: Column, shifts: tuple[float, ...], near: float) -> tuple[float, list[int]] | None:
    """The one constant of ``shifts`` that most value pairs differ by, when no pair differs by a nearby amount.

    An epoch is one constant: 3653, 3653 and 3652 days is a calendar "+10 years", not the 1960/1970 epoch."""
    values = col.values
    for shift in shifts:
        exact = [abs(p - s - shift) <= 1e-6 for _, s, p in values]
        idx = [i for (i, _, _), hit in zip(values, exact, strict=True) if hit]
        if not col.most(len(idx)):
            continue
        if any(not hit and abs(p - s - shift) <= near for (_, s, p), hit in zip(values, exact, strict=True)):
            return None
        return shift, idx
    return None


def date_rules(col: Column) -> list[Explanation]:
    out: list[Explanation] = []
    kind = col.kind
    if kind in ("date", "datetime"):
        unit, what = (1.0, "days") if kind == "date" else (DAY, "s")
        epoch = float(EPOCH_SHIFT_DAYS if kind == "date" else EPOCH_SHIFT_SECONDS)
        hit = _constant_shift(col, (epoch, -epoch), 400 * unit)
        if hit:
            shift, idx = hit
            start = "date(1960,1,1) + timedelta(days=x)" if kind == "date" else \
                "datetime(1960,1,1) + timedelta(seconds=x)"
            out.append(_exp("epoch_shift", idx, f"{len(idx)} {kind}(s) shifted by exactly {shift:+g} {what}: 1960 "
                            "(SAS) vs 1970 (Unix) epoch", f"convert with the 1960 epoch: {start}"))
        excel = EXCEL_SHIFT_DAYS * unit
        hit = _constant_shift(col, (excel, -excel), 400 * unit)
        if hit:
            shift, idx = hit
            out.append(_exp("excel_serial", idx, f"{len(idx)} {kind}(s) shifted by exactly {shift:+g} {what}: "
                            "Excel 1899-12-30 serial dates", "convert Excel serials with date(1899,12,30) + days"))
    if kind == "datetime":
        out += _timezone(col)
        out += _date_without_format(col)
    if kind == "time":
        out += _time_wrap(col)
    if kind in ("datetime", "time"):
        out += _subsecond(col)
    if kind == "date":
        out += _datetime_without_format(col)
    return out


def _timezone(col: Column) -> list[Explanation]:
    """Whole hours (up to 14): one constant (a time-zone offset), or two adjacent ones (daylight saving)."""
    values = col.values
    diffs = [(i, round(p - s, 3)) for i, s, p in values]
    hours = Counter(d for _, d in diffs if d and d % 3600 == 0 and abs(d) <= 14 * 3600)
    if not hours:
        return []
    offsets = sorted(hours)
    if len(offsets) > 2 or (len(offsets) == 2 and (offsets[1] - offsets[0] != 3600 or offsets[0] * offsets[1] < 0)):
        return []
    idx = [i for i, d in diffs if d in hours]
    if not col.most(len(idx)):
        return []
    what = (f"a time-zone offset of {offsets[0] / 3600:+g} h" if len(offsets) == 1 else
            f"local time with daylight saving ({offsets[0] / 3600:+g} h / {offsets[1] / 3600:+g} h)")
    return [_exp("timezone", idx, f"{len(idx)} datetime(s) off by whole hours: {what}",
                 "SAS datetimes have no time zone: use naive wall-clock times in the port")]


def _time_wrap(col: Column) -> list[Explanation]:
    """A SAS time of 24h or more (or negative) that Python holds modulo a day."""
    values = col.values
    idx = [i for i, s, p in values if not 0 <= s < DAY and 0 <= p < DAY and _close(p, s % DAY, 1e-12)]
    if not col.most(len(idx)):
        return []
    return [_exp("time_wrap", idx, f"{len(idx)} time(s) of 24h or more (or negative) in SAS are wrapped to a "
                 "time of day in Python", "keep times >= 24h as durations (timedelta), not time-of-day")]


def _subsecond(col: Column) -> list[Explanation]:
    """Datetimes or times that differ by less than a second: one side is the other rounded or truncated to the ms
    or the s (not a constant shift); or, failing that signature, most differ by under 1 ms."""
    values = col.values
    found: dict[tuple[str, str], list[int]] = {}
    sub_ms: list[int] = []
    for i, s, p in values:
        if abs(p - s) < 1e-3:
            sub_ms.append(i)
        for per_second, name in ((1000.0, "ms"), (1.0, "s")):
            side = _coarser(s, p, per_second) if abs(p - s) * per_second < 1 else ""
            if side:
                found.setdefault((name, side), []).append(i)
    tolerance = ('set tolerance default_datetime = { method = "absolute", criterion = 0.001 } (default_time for '
                 "times) if sub-millisecond differences do not matter")
    if found:
        # the unit and side most pairs fit (a whole second is also a whole millisecond); ties: ms, then Python
        (name, side), idx = max(sorted(found.items()), key=lambda item: len(item[1]))
        chosen = set(idx)
        # every difference the same is a shift, not a precision (datetimes are kept to the microsecond)
        if col.most(len(idx)) and not _constant_difference([v for v in values if v[0] in chosen], atol=1e-6):
            hint = (tolerance.replace("0.001", "1").replace("sub-millisecond", "sub-second") if name == "s" else
                    tolerance)
            return [_exp("subsecond_precision", idx, f"{len(idx)} {col.kind}(s) differ by under 1 {name}: the "
                         f"{side} values are rounded or truncated to the {name}",
                         f"keep full precision in the port, or {hint}")]
    if not col.most(len(sub_ms)):
        return []
    largest = max(abs(p - s) for _, s, p in values if abs(p - s) < 1e-3)
    return [_exp("subsecond_precision", sub_ms, f"{len(sub_ms)} {col.kind}(s) differ by under 1 ms (at most "
                 f"{largest * 1000:.3g} ms): a difference of precision, such as a conversion through milliseconds "
                 "or float days, not of the date or time itself", tolerance)]


def _coarser(s: float, p: float, per_second: float) -> str:
    """'Python' or 'SAS': the side that is the other rounded / truncated / floored to 1 / per_second s, or ''."""
    for exact, coarse, side in ((s, p, "Python"), (p, s, "SAS")):
        steps = exact * per_second
        for cut in (round(steps), math.trunc(steps), math.floor(steps)):
            if abs(coarse - cut / per_second) <= 5e-7:
                return side
    return ""


def _date_without_format(col: Column) -> list[Explanation]:
    """Datetime column whose SAS values are day counts (1900-2100) and Python's are that day in seconds."""
    values = col.values
    lo, hi = SAS_DAY_RANGE
    idx = [i for i, s, p in values if s.is_integer() and lo <= s <= hi and 0 <= p / DAY - s < 1]
    if not col.most(len(idx)):
        return []
    fmt = (col.sas_format or "").strip()
    why = (f"the SAS column has the datetime format {fmt} on day counts" if fmt else
           "the SAS column has no date format, so its day counts were taken as datetimes")
    return [_exp("date_without_format", idx,
                 f"{len(idx)} SAS value(s) are day counts (dates 1900-2100) where Python has that day as a "
                 f"datetime: {why}",
                 f'declare the SAS format in the dataset\'s spec: formats = {{ {col.label} = "DATE9." }} '
                 "(or give the variable a DATE format in the SAS program)")]


def _datetime_without_format(col: Column) -> list[Explanation]:
    """Date column whose SAS values are seconds (1900-2100) and Python's the day of them."""
    values = col.values
    lo, hi = SAS_DAY_RANGE
    idx = [i for i, s, p in values if lo * DAY <= s <= (hi + 1) * DAY and abs(s) >= DAY
           and p.is_integer() and 0 <= s / DAY - p < 1]
    if not col.most(len(idx)):
        return []
    return [_exp("date_without_format", idx,
                 f"{len(idx)} SAS value(s) are datetimes in seconds where Python has their date: the SAS column "
                 "has no datetime format",
                 f'declare the SAS format in the dataset\'s spec: formats = {{ {col.label} = "DATETIME20." }} '
                 "(or give the variable a DATETIME format in the SAS program)")]


# ---- shapes


def _calendar(value: float, kind: str) -> dt.datetime | None:
    try:
        if kind == "date":
            return SAS_EPOCH_DT + dt.timedelta(days=value) if value.is_integer() else None
        return SAS_EPOCH_DT + dt.timedelta(seconds=value)
    except OverflowError:
        return None


def calendar_shift(col: Column) -> list[Explanation]:
    """Dates (or datetimes, same time of day) moved by a whole number of calendar months, the same for most
    pairs: '+10 years' is 3652 or 3653 days depending on the leap days it spans.  A month-end is clamped
    (2020-02-29 + 12 months = 2021-02-28)."""
    if col.kind not in ("date", "datetime"):
        return []
    values = col.values
    months: dict[int, list[int]] = {}
    for i, s, p in values:
        a, b = _calendar(s, col.kind), _calendar(p, col.kind)
        if a is None or b is None or a.time() != b.time():
            continue
        m = (b.year - a.year) * 12 + b.month - a.month
        month_end = (b + dt.timedelta(days=1)).day == 1 and a.day > b.day
        if m and (a.day == b.day or month_end):
            months.setdefault(m, []).append(i)
    if not months:
        return []
    m = max(sorted(months), key=lambda k: len(months[k]))
    idx = months[m]
    if not col.most(len(idx)):
        return []
    span = f"{m:+d} month(s)" + (f" ({m // 12:+d} years)" if m % 12 == 0 else "")
    return [_exp("calendar_shift", idx, f"{len(idx)} {col.kind}(s) are the SAS value moved by {span} on the "
                 "calendar (a varying number of days, so not an epoch)",
                 "look for a calendar offset in one program (INTNX, relativedelta, pl.offset_by, DateOffset)")]


def shapes(col: Column) -> list[Explanation]:
    values = col.values
    if not values or col.kind == "string":
        return []
    out = []
    quotients = [(i, p / s) for i, s, p in values if s != 0]
    for ratio, label in ((DAY, "date vs datetime units (days vs seconds)"), (1000.0, "a unit of 10^3"),
                         (1e6, "a unit of 10^6"), (1e9, "a unit of 10^9"), (100.0, "percent vs fraction")):
        for r in (ratio, 1 / ratio):
            idx = [i for i, q in quotients if abs(q - r) <= 1e-6 * r]
            if col.most(len(idx)):
                out.append(_exp("unit_ratio", idx, f"{len(idx)} value(s) differ by a factor {r:g}: {label}",
                                "convert units in the port"))
    diffs = Counter(round(p - s, 6) for _, s, p in values)
    shift, n_shift = diffs.most_common(1)[0]
    if n_shift == len(values) > 1 and shift != 0:
        unit = f" {DIFF_UNITS[col.kind]}" if DIFF_UNITS.get(col.kind) else ""
        out.append(_exp("constant_offset", (i for i, _, _ in values), f"all {n_shift} differences are exactly "
                        f"{shift:+g}{unit}", "look for a constant added or subtracted in one of the programs"))
    return out


# ---- strings


def length_truncation(col: Column) -> list[Explanation]:
    """The Python value cut to the SAS LENGTH in bytes of the SAS file's encoding is the SAS value.

    A cut may fall inside a multibyte character, which SAS drops (so the SAS value is up to 3 bytes short of the
    length); in single-byte encodings (wlatin1) a character is a byte, so 'café' fits a LENGTH of 4 there and a
    SAS 'caf' is not its truncation.  Without a known encoding UTF-8, cp1252 and latin-1 are tried.  'Mr'
    (LENGTH 4) vs 'Mrs' is not a truncation."""
    if col.kind != "string" or not col.length:
        return []
    length = col.length
    strs = col.strings
    from parity.engine.normalize import Collation

    known = Collation.of(col.encoding) if col.encoding else None
    codecs = ((known.codec or "utf-8",) if known and known.note is None else ("utf-8", "cp1252", "latin-1"))
    idx = [i for i, s, p in strs if s != p and any(_cut(p, length, enc) == s for enc in codecs)]
    if not col.most(len(idx)):
        return []
    return [_exp("length_truncation", idx,
                 f"{len(idx)} Python value(s) cut to the SAS LENGTH of {length} bytes give the SAS value: SAS "
                 "truncated them (length fixed at first assignment)",
                 "declare a LENGTH in the SAS program, or truncate in the port if SAS is right")]


def _cut(text: str, length: int, encoding: str) -> str | None:
    try:
        raw = text.encode(encoding)
    except UnicodeEncodeError:
        return None
    if len(raw) <= length:
        return None
    return raw[:length].decode(encoding, "ignore").rstrip(" ")


#: code pages a SAS session (wlatin2, wcyrillic, wgreek, wturkish, whebrew, warabic, wbaltic, koi8-r, euc-cn/gbk,
#: big5, shift-jis, euc-kr) or a port may have written text in, whose bytes were then shown as cp1252/latin-1
LEGACY_CODECS = ("cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "koi8_r", "gbk", "big5",
                 "shift_jis", "euc_kr")
#: single-byte code pages other than cp1252/latin-1 that may have shown UTF-8 bytes
SINGLE_BYTE_READERS = ("cp1250", "cp1251", "cp1253", "cp1254", "cp1257", "koi8_r")


def _shown_bytes(text: str) -> bytes | None:
    """The bytes cp1252 shows as ``text`` (latin-1 for those cp1252 leaves undefined: 0x81, 0x8D, ...), or None."""
    for codec in ("cp1252", "latin-1"):
        try:
            return text.encode(codec)
        except UnicodeEncodeError:
            pass
    mixed = bytearray()
    for ch in text:
        try:
            mixed += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 255:
                return None
            mixed.append(ord(ch))
    return bytes(mixed)


def _decoded(raw: bytes, codec: str) -> str | None:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError:
        return None


def _recoded(text: str, shown: str, written: str) -> str | None:
    try:
        return text.encode(shown).decode(written)
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None


@lru_cache(maxsize=65536)
def _misread(text: str) -> tuple[str, ...]:
    """``text`` repaired by a round trip: its characters taken back to the bytes cp1252 / latin-1 show them as,
    decoded as UTF-8 (one or two rounds: double mojibake) or as a legacy code page (Cyrillic, CJK, ...); UTF-8
    shown in another single-byte code page (cp1251, ...); and cp1252 <-> latin-1 confusions of single bytes."""
    if text.isascii():
        return ()
    out: list[str | None] = []
    raw = _shown_bytes(text)
    if raw is not None:
        once = _decoded(raw, "utf-8")
        out.append(once)
        twice = _shown_bytes(once) if once and not once.isascii() else None
        out.append(_decoded(twice, "utf-8") if twice else None)
        out += [_decoded(raw, codec) for codec in LEGACY_CODECS]
    out += [_recoded(text, codec, "utf-8") for codec in SINGLE_BYTE_READERS]
    out += [_recoded(text, "cp1252", "latin-1"), _recoded(text, "latin-1", "cp1252")]
    return tuple(r for r in dict.fromkeys(out) if r is not None and r != text)


def _mojibake(s: str, p: str) -> bool:
    """One side repaired by a round trip is the other.  Both sides hold non-ASCII text (a misread byte >= 0x80 is
    never ASCII), and only the longer side can be the misread one (a repair never adds characters)."""
    if s.isascii() or p.isascii():
        return False
    return (len(s) >= len(p) and p in _misread(s)) or (len(p) >= len(s) and s in _misread(p))


def _lossy(s: str, p: str) -> bool:
    """Same text except where one side has a replacement character ('\\ufffd' or '?') for a non-ASCII one."""
    if len(s) != len(p):
        return False
    diffs = [(a, b) for a, b in zip(s, p, strict=True) if a != b]
    return bool(diffs) and all((a in "\ufffd?" and ord(b) > 127) or (b in "\ufffd?" and ord(a) > 127)
                               for a, b in diffs)


def encoding(col: Column) -> list[Explanation]:
    """Mojibake proven by round trip: one side re-encoded as cp1252/latin-1 and decoded as UTF-8 is the other;
    or a lossy transcode that replaced the non-ASCII characters.  'SÃO PAULO' vs 'SAO PAULO' is neither."""
    if col.kind != "string":
        return []
    strs = col.strings
    mojibake = [i for i, s, p in strs if _mojibake(s, p)]
    lossy = [i for i, s, p in strs if _lossy(s, p)]
    idx = sorted(set(mojibake) | set(lossy))
    if not col.most(len(idx)):
        return []
    parts = [f"{len(mojibake)} mojibake (text encoded in one code page and decoded in another, e.g. UTF-8 read "
             "as latin1/cp1252)"] if mojibake else []
    if lossy:
        parts.append(f"{len(lossy)} lossy transcode (characters replaced by ? or \ufffd)")
    return [_exp("encoding", idx, f"{len(idx)} value(s) differ by encoding: " + "; ".join(parts),
                 "set encoding = '<codec>' for the dataset (the SAS file's session encoding), or fix the "
                 "port's read/write encoding")]


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _same_number(s: str, p: str) -> bool:
    """The same number in another text form; or SAS's BEST12. text (11-12 characters) of the Python number."""
    if not (_NUMBER.fullmatch(s) and _NUMBER.fullmatch(p)):
        return False
    try:  # _NUMBER's blanks are regex whitespace, which holds characters float() does not strip ('\x1f')
        x, y = float(s), float(p)
    except ValueError:
        return False
    if x == y:
        return True
    text = s.strip()
    if len(text) < 11:
        return False
    digits = len(text.upper().split("E")[0].lstrip("-+").replace(".", "").lstrip("0")) or 1
    return _round_sig(y, digits) == x


def string_rules(col: Column) -> list[Explanation]:
    if col.kind != "string":
        return []
    strs = col.strings
    checks: list[tuple[str, Callable[[str, str], bool], str, str]] = [
        ("number_format", _same_number, "hold the same number in another text form (BEST12. conversion)",
         "format numbers the way SAS's automatic conversion does (BEST12., right-aligned)"),
        ("case", lambda s, p: s.casefold() == p.casefold(), "differ only in letter case",
         "set strings.ignore_case = true if case is not meaningful, or fix UPCASE/PROPCASE in the port"),
        ("leading_blanks", lambda s, p: s.lstrip(" ") == p.lstrip(" "), "differ only in leading blanks "
         "(which count in SAS)", "strip leading blanks in the port (SAS LEFT/STRIP), or set strings.strip = 'both'"),
    ]
    out = []
    for code, test, what, hint in checks:
        idx = [i for i, s, p in strs if test(s, p)]
        if col.most(len(idx)):
            out.append(_exp(code, idx, f"{len(idx)} value(s) {what}", hint))
    return out


#: in order of specificity: a diagnosis whose rows an earlier one explains is dropped; where two explain as many
#: rows, the earlier one is listed first
RULES: tuple[Rule, ...] = (
    _missing_found, rounding_mode, rounded_side, storage_truncation, floor_vs_trunc, date_rules,
    float_noise, length_truncation, encoding, string_rules, calendar_shift, shapes,
)
#: every diagnosis code, as documented in docs/checks.md
CODES = (
    "division_by_zero", "sum_of_missing", "special_missing", "missing_as_text", "blank_vs_null", "missing_in_sas",
    "missing_in_python",
    "rounding_half_even", "significant_digits", "decimal_places", "storage_truncation", "floor_vs_trunc",
    "epoch_shift", "excel_serial", "timezone", "time_wrap", "subsecond_precision", "date_without_format",
    "float_noise", "length_truncation", "encoding", "number_format", "case", "leading_blanks", "calendar_shift",
    "unit_ratio", "constant_offset",
)
#: diagnoses that only describe the shape of a difference, not its cause: listed after any cause
GENERIC = frozenset({"calendar_shift", "constant_offset", "unit_ratio", "missing_in_sas", "missing_in_python"})


def explain(pairs: Sequence[Pair], kind: str, length: int | None, *, column: str | None = None,
            sas_format: str | None = None, encoding: str | None = None) -> list[dict[str, object]]:
    """Named diagnoses for one column's mismatching pairs: causes (most rows first), then shapes."""
    pairs = pairs[:MAX_PAIRS]
    col = Column(pairs, kind, length, column, sas_format, encoding)
    found = [e for rule in RULES for e in rule(col)]
    kept: list[Explanation] = []
    covered: set[int] = set()
    for e in sorted(found, key=lambda e: e.code in GENERIC):  # stable: causes first, in RULES order
        if e.idx <= covered:
            continue
        kept.append(e)
        covered |= e.idx
    kept.sort(key=lambda e: (e.code in GENERIC, -e.rows))  # stable: ties keep RULES order
    return [e.to_dict(len(pairs)) for e in kept]
