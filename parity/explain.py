"""Explaining differences: the diff signatures of ../docs/sas-semantics.md turned into named diagnoses.

Each rule looks at the mismatching value pairs of one column (SAS value x, Python value y, in SAS units) and says
how many of them it explains.  Rules are pure functions over plain Python values, so they are easy to test and
give the same answer every run.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from parity.formats import EPOCH_SHIFT_DAYS, EPOCH_SHIFT_SECONDS

#: the first pairs (by key) analysed per column; shares are of this sample
MAX_PAIRS = 20_000


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

    def to_dict(self, total: int) -> dict[str, object]:
        return {"code": self.code, "rows": self.rows, "share": round(self.rows / total, 6) if total else 0.0,
                "analysed": total, "message": self.message, "hint": self.hint}


Rule = Callable[[Sequence[Pair], str, int | None], Explanation | None]


def _numbers(pairs: Sequence[Pair]) -> list[tuple[float, float]]:
    return [
        (float(p.sas), float(p.python))
        for p in pairs
        if isinstance(p.sas, int | float) and isinstance(p.python, int | float)
        and math.isfinite(p.sas) and math.isfinite(p.python)
    ]


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def rounding_mode(pairs: Sequence[Pair], kind: str, length: int | None) -> Explanation | None:
    """|diff| is exactly one unit in the last decimal and SAS is farther from zero: half-away vs half-even."""
    if kind != "numeric":
        return None
    hits = Counter[int]()
    for s, p in _numbers(pairs):
        d = abs(p - s)
        if d == 0 or abs(s) <= abs(p):
            continue
        for k in range(0, 7):
            unit = 10.0**-k
            if _close(d, unit, 1e-6) and _close(round(s / unit), s / unit, 1e-9) and \
                    _close(abs(s) - unit / 2, abs((s + p) / 2), 1e-6):
                hits[k] += 1
                break
    if not hits:
        return None
    k, n = hits.most_common(1)[0]
    n = sum(hits.values())
    return Explanation(
        "rounding_half_even", n,
        f"{n} value(s) differ by exactly one unit in decimal place {k} with SAS farther from zero: SAS ROUND "
        "rounds halves away from zero, Python (round, numpy, pandas, polars) rounds half to even",
        f"in the port use polars .round({k}, mode='half_away_from_zero') or Decimal(...).quantize(ROUND_HALF_UP)",
    )


def float_noise(pairs: Sequence[Pair], kind: str, length: int | None) -> Explanation | None:
    n = sum(1 for s, p in _numbers(pairs) if s != p and abs(p - s) <= 1e-12 * max(abs(s), abs(p)))
    if not n:
        return None
    return Explanation(
        "float_noise", n, f"{n} value(s) differ by less than 1e-12 relative: floating-point summation order noise",
        "set tolerance method = 'relative', criterion = 1e-12 (or PROC COMPARE's criterion = -1000)",
    )


def storage_truncation(pairs: Sequence[Pair], kind: str, length: int | None) -> Explanation | None:
    if kind != "numeric" or not length or length >= 8:
        return None
    bound = 2.0 ** -(8 * length - 12)
    n = sum(1 for s, p in _numbers(pairs) if abs(s) <= abs(p) and abs(p - s) <= bound * abs(p))
    if not n:
        return None
    return Explanation(
        "storage_truncation", n,
        f"{n} value(s) match once the Python value is truncated to SAS's {length}-byte storage (LENGTH {length})",
        "keep numbers.storage = 'truncate' (the default) or give the SAS variable LENGTH 8",
    )


def missing_patterns(pairs: Sequence[Pair], kind: str, length: int | None) -> Explanation | None:
    if kind == "string":
        return None
    inf = sum(1 for p in pairs if p.sas is None and isinstance(p.python, float) and math.isinf(p.python))
    if inf:
        return Explanation("division_by_zero", inf,
                           f"{inf} value(s) are missing in SAS but infinite in Python: division by zero",
                           "SAS gives . for x/0; in the port map inf to null (e.g. .replace(inf, None))")
    zero = sum(1 for p in pairs if p.sas is None and p.sas_tag is None and p.python == 0)
    if zero:
        return Explanation("sum_of_missing", zero,
                           f"{zero} value(s) are missing in SAS but 0 in Python: SAS SUM() of all-missing is .",
                           "use min_count=1 (pandas) or null when all inputs are null (polars)")
    special = sum(1 for p in pairs if p.sas_tag and p.python is None)
    if special:
        return Explanation("special_missing", special,
                           f"{special} SAS special missing value(s) (.A-.Z, ._) are plain missing in Python",
                           "set numbers.special_missing = 'as_missing' if the port cannot keep them")
    return None


def integer_off_by_one(pairs: Sequence[Pair], kind: str, length: int | None) -> Explanation | None:
    if kind != "numeric":
        return None
    nums = [(s, p) for s, p in _numbers(pairs) if s.is_integer() and p.is_integer() and abs(p - s) == 1]
    if not nums:
        return None
    neg = sum(1 for s, p in nums if min(s, p) < 0)
    if neg == len(nums):
        return Explanation("floor_vs_trunc", neg,
                           f"{neg} integer value(s) off by one, all negative: SAS INT truncates toward zero, "
                           "floor rounds down", "use trunc (np.trunc / polars .truncate) instead of floor")
    return None


def constant_offset(pairs: Sequence[Pair], kind: str, length: int | None) -> Explanation | None:
    nums = _numbers(pairs)
    if not nums:
        return None
    diffs = Counter(round(p - s, 6) for s, p in nums)
    ratios = Counter(round(p / s, 9) for s, p in nums if s != 0)
    shift, n_shift = diffs.most_common(1)[0]
    if kind == "date" and shift in (EPOCH_SHIFT_DAYS, -EPOCH_SHIFT_DAYS):
        return Explanation("epoch_shift", n_shift, f"{n_shift} date(s) shifted by {shift:+g} days: 1960 (SAS) vs "
                           "1970 (Unix) epoch", "convert with the 1960 epoch: date(1960,1,1) + timedelta(days=x)")
    if kind in ("datetime",) and shift in (EPOCH_SHIFT_SECONDS, -EPOCH_SHIFT_SECONDS):
        return Explanation("epoch_shift", n_shift, f"{n_shift} datetime(s) shifted by {shift:+g} s: 1960 (SAS) vs "
                           "1970 (Unix) epoch", "convert with the 1960 epoch: datetime(1960,1,1) + timedelta(seconds=x)")
    if kind == "date" and abs(shift) == 21916:
        return Explanation("excel_serial", n_shift, f"{n_shift} date(s) shifted by {shift:+g} days: an Excel "
                           "1899-12-30 serial date", "convert Excel serials with date(1899,12,30) + days")
    if kind == "datetime" and shift and shift % 3600 == 0 and abs(shift) <= 14 * 3600:
        hours = {d for d in diffs if d and d % 3600 == 0 and abs(d) <= 14 * 3600}
        n = sum(diffs[d] for d in hours)
        what = "a time-zone offset" if len(hours) == 1 else "local time / daylight saving (offset varies)"
        return Explanation("timezone", n, f"{n} datetime(s) off by whole hours ({sorted(hours)} s): {what}",
                           "SAS datetimes have no time zone: use naive wall-clock times in the port")
    if kind == "time" and all(d and d % 86400 == 0 for d in diffs):
        return Explanation("time_wrap", len(nums), f"{len(nums)} time(s) differ by whole days: durations of 24h "
                           "or more wrapped modulo a day", "keep times >= 24h as durations, not time-of-day")
    if kind == "datetime" and all(abs(d) < 1e-3 for d in diffs):
        return Explanation("subsecond_precision", len(nums), f"{len(nums)} datetime(s) differ by under 1 ms",
                           "set dates.datetime_precision = 'ms' (or 's') if the port rounds times")
    for ratio, label in ((86400.0, "date vs datetime units (days vs seconds)"), (1000.0, "a unit of 10^3"),
                         (1e6, "a unit of 10^6"), (1e9, "a unit of 10^9"), (100.0, "percent vs fraction")):
        for r in (ratio, 1 / ratio):
            n = sum(c for q, c in ratios.items() if _close(q, r, 1e-6))
            if n and n >= len(nums) // 2:
                return Explanation("unit_ratio", n, f"{n} value(s) differ by a factor {r:g}: {label}",
                                   "convert units in the port")
    if n_shift == len(nums) and len(nums) > 1 and shift != 0:
        return Explanation("constant_offset", n_shift, f"all {n_shift} differences are exactly {shift:+g}",
                           "look for a constant added or subtracted in one of the programs")
    return None


# ---- strings


def string_rules(pairs: Sequence[Pair], kind: str, length: int | None) -> Explanation | None:
    if kind != "string":
        return None
    strs = [(p.sas, p.python) for p in pairs if isinstance(p.sas, str) and isinstance(p.python, str)]
    if length:
        trunc = sum(1 for s, p in strs if len(p) > len(s) and p.startswith(s)
                    and len(s.encode("utf-8", "replace")) >= length - 3)
        if trunc:
            return Explanation("length_truncation", trunc,
                               f"{trunc} Python value(s) start with the SAS value, which fills its LENGTH "
                               f"{length}: SAS truncated them (length fixed at first assignment)",
                               "declare a LENGTH in the SAS program, or truncate in the port if SAS is right")
    checks: list[tuple[str, Callable[[str, str], bool], str, str]] = [
        ("case", lambda s, p: s.lower() == p.lower(), "differ only in letter case",
         "set strings.ignore_case = true if case is not meaningful, or fix UPCASE/PROPCASE in the port"),
        ("leading_blanks", lambda s, p: s.lstrip(" ") == p.lstrip(" "), "differ only in leading blanks "
         "(which count in SAS)", "strip leading blanks in the port (SAS LEFT/STRIP), or set strings.strip = 'both'"),
        ("encoding", lambda s, p: any(m in s + p for m in ("Ã", "â€", "\ufffd")), "show mojibake (UTF-8 bytes read "
         "as latin1/cp1252, or a lossy transcode)", "set encoding = '<codec>' for the dataset"),
        ("number_format", _same_number, "hold the same number in another text form (BEST12. conversion)",
         "format numbers the way SAS's automatic conversion does (BEST12., right-aligned)"),
    ]
    for code, test, what, hint in checks:
        n = sum(1 for s, p in strs if test(s, p))
        if n:
            return Explanation(code, n, f"{n} value(s) {what}", hint)
    return None


def _same_number(s: str, p: str) -> bool:
    try:
        return float(s) == float(p)
    except ValueError:
        return False


#: in order of specificity: where two rules explain as many rows, the earlier one is listed first
RULES: tuple[Rule, ...] = (
    missing_patterns, rounding_mode, storage_truncation, constant_offset, integer_off_by_one, float_noise,
    string_rules,
)
#: diagnoses that only describe the shape of a difference, not its cause: listed after any cause
GENERIC = frozenset({"constant_offset", "unit_ratio"})


def explain(pairs: Sequence[Pair], kind: str, length: int | None) -> list[dict[str, object]]:
    """Named diagnoses for one column's mismatching pairs, most rows first."""
    pairs = pairs[:MAX_PAIRS]
    found = [e for rule in RULES if (e := rule(pairs, kind, length)) is not None]
    causes = max((e.rows for e in found if e.code not in GENERIC), default=0)
    # a shape ("all differences are +0.01") adds nothing where a cause already explains as many rows
    found = [e for e in found if e.code not in GENERIC or e.rows > causes]
    found.sort(key=lambda e: (e.code in GENERIC, -e.rows))  # stable: ties keep RULES order
    return [e.to_dict(len(pairs)) for e in found]
