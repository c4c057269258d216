"""Normalised string form of a MATH answer: the cheap equivalence test and the self-consistency key.

Follows the normalisers of Hendrycks et al. (`strip_string`) and Lewkowycz et al.
(`normalize_final_answer`): LaTeX spacing, `\\left`/`\\right`, `\\dfrac`/`\\tfrac`, text and unit
wrappers, dollar signs, percent and degree marks, `x =` prefixes, `\\frac12` and `\\sqrt3` shorthand,
`a/b`, thousands separators and trailing zeros. Two answers with the same normal form are equal;
answers whose normal forms differ go to math-verify (`mathpool`). Every regex here is linear.
"""

from __future__ import annotations

import re
from fractions import Fraction

_TEXT_CMD = re.compile(r"\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|hbox)\s*\{([^{}]*)\}")
# Spacing commands; the backslash must not be the second of a row separator `\\\\` ("0 \\\\ 0").
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]|\\quad|\\qquad|~")
# A row separator right before `\\end{..}` ends no row: `\\begin{pmatrix}0 \\\\ 0 \\\\ \\end{pmatrix}`.
_TRAILING_ROW = re.compile(r"\\\\\s*(?=\\end\{)")
_LEFT_RIGHT = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![A-Za-z])")
_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree")
_UNITS = (
    "square units", "square feet", "square inches", "square meters", "square centimeters",
    "cubic units", "cubic feet", "cubic inches", "units", "unit", "degrees", "degree", "inches",
    "inch", "feet", "foot", "meters", "meter", "centimeters", "cm", "mm", "km", "miles", "mile",
    "hours", "hour", "minutes", "minute", "seconds", "second", "days", "day", "dollars", "dollar",
    "cents", "cent", "mph", "pounds", "ounces", "students", "people", "ways", "sq ft", "ft", "m",
)
_UNIT_SUFFIX = re.compile(
    r"^(.*?\d\}?)\s*(?:\\text\{\s*)?(?:" + "|".join(re.escape(u) for u in _UNITS) + r")\.?\}?$"
)
_VAR_PREFIX = re.compile(r"^[A-Za-z](?:_\{?\w\}?)?\s*=\s*(?=\S)")
_FRAC_SHORT = re.compile(r"\\frac\s*(\d|[A-Za-z])\s*(\d|[A-Za-z])")
_FRAC_FIRST = re.compile(r"\\frac\s*(\d|[A-Za-z])(?=\s*\{)")
_FRAC_HALF = re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d|[A-Za-z])")
_SQRT_SHORT = re.compile(r"\\sqrt\s*(\d+|[A-Za-z])")
_A_SLASH_B = re.compile(r"^(-?)(\d+)/(\d+)$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_TRAILING_ZEROS = re.compile(r"^(-?\d+)\.0+$")


def unwrap_math(s: str) -> str:
    """Strip one pair of math delimiters (`$..$`, `$$..$$`, `\\(..\\)`, `\\[..\\]`) around an answer."""
    s = s.strip()
    for open_, close in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if len(s) >= len(open_) + len(close) and s.startswith(open_) and s.endswith(close):
            inner = s[len(open_) : len(s) - len(close)]
            if not inner.endswith("\\"):  # `$5\$` is not wrapped in `$`
                return inner.strip()
    return s


def normalize_math(answer: str) -> str:
    """The normal form used for string equality and as the vote key of a MATH answer."""
    s = unwrap_math(answer)
    s = s.replace("\n", " ").replace("\\!", "")
    s = _TRAILING_ROW.sub("", s)
    s = re.sub(r"\\+(?:d|t)frac", r"\\frac", s)
    s = _SPACING.sub(" ", s)
    s = _LEFT_RIGHT.sub("", s)
    s = _DEGREES.sub("", s)
    s = s.replace("\\$", "").replace("$", "")
    s = s.replace("\\%", "").replace("%", "")
    for _ in range(3):  # nested wrappers such as \text{\textbf{x}}
        s2 = _TEXT_CMD.sub(r"\1", s)
        if s2 == s:
            break
        s = s2
    s = s.strip()
    m = _UNIT_SUFFIX.match(s)
    if m:
        s = m.group(1)
    s = _VAR_PREFIX.sub("", s) if s.count("=") == 1 else s
    s = s.strip().rstrip(".").strip()
    s = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_FIRST.sub(r"\\frac{\1}", s)
    s = _FRAC_HALF.sub(r"\\frac\1{\2}", s)
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    if _THOUSANDS.match(s):  # before spaces go: "1, 234" is a list, "1,234" a number
        s = s.replace(",", "")
    s = s.replace(" ", "")
    s = _TRAILING_ZEROS.sub(r"\1", s)
    m = _A_SLASH_B.match(s)
    if m:
        s = f"{m.group(1)}\\frac{{{m.group(2)}}}{{{m.group(3)}}}"
    if s.startswith("."):
        s = "0" + s
    return s.replace("{.", "{0.").replace("-.", "-0.")


_MAX_PLAIN = 100  # characters of a normal form read as a plain number
_INT_OR_DEC = re.compile(r"^(-?)(\d+)(?:\.(\d+))?$")
_NORM_FRAC = re.compile(r"^(-?)\\frac\{(-?\d+)\}\{(\d+)\}$")


def exact_number(norm: str) -> tuple[Fraction, bool] | None:
    """The value of a normal form that is a plain integer, decimal or integer fraction, and whether
    it was written as a decimal (math-verify compares decimals after rounding, so only equal values
    or two exact rationals can be decided without it)."""
    m = _INT_OR_DEC.match(norm)
    if m:
        digits = m.group(2) + (m.group(3) or "")
        scale = 10 ** len(m.group(3) or "")
        value = Fraction(int(digits), scale)
        return (-value if m.group(1) else value), m.group(3) is not None
    m = _NORM_FRAC.match(norm)
    if m and int(m.group(3)) != 0:
        value = Fraction(int(m.group(2)), int(m.group(3)))
        return (-value if m.group(1) else value), False
    return None


def decide(gold: str, pred: str) -> bool | None:
    """Equivalence settled without sympy where it can be: equal normal forms, or two plain numbers
    (equal exact values, see `decide_forms`). None: ask math-verify."""
    plain = "%" not in gold and "%" not in pred  # "25\\%" vs "0.25": percentages are math-verify's
    return decide_forms(normalize_math(gold), normalize_math(pred), plain)


def decide_forms(ng: str, np_: str, plain: bool = True) -> bool | None:
    """`decide` on normal forms already computed.

    The decimal rule: two plain numbers (integers, decimals, integer fractions) are the same answer
    exactly when their values are equal: 0.5 is \\frac{1}{2}, 2.50 is 2.5, and 0.333 is not \\frac13
    however many 3s it has. A decimal is compared with any other gold the same way, by its exact
    value (`verify_form`), so 4.472136 is not 2\\sqrt{5}."""
    if ng == np_:
        return True
    if not plain or len(ng) > _MAX_PLAIN or len(np_) > _MAX_PLAIN:  # no huge integer conversions
        return None
    vg, vp = exact_number(ng), exact_number(np_)
    if vg is None or vp is None:
        return None
    return vg[0] == vp[0]


def verify_form(answer: str) -> str:
    """An answer as math-verify is given it: one line, no trailing row separator, and a decimal as
    the exact fraction it writes (math-verify would round it: 4.472136 would equal 2\\sqrt{5} while
    3.1623 would not equal \\sqrt{10}; exact, neither does)."""
    s = _TRAILING_ROW.sub("", answer.replace("\n", " "))
    if "%" in s:
        return s
    norm = normalize_math(s)
    value = exact_number(norm) if len(norm) <= _MAX_PLAIN else None
    if value is None or not value[1]:
        return s
    f = value[0]
    sign = "-" if f < 0 else ""
    return f"{sign}\\frac{{{abs(f.numerator)}}}{{{f.denominator}}}"
