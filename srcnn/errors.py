"""The one exception type the library raises for bad input (the CLIs print it as one line), the one line
an exception from elsewhere becomes in its message (``one_line``), and the checks of numbers and scales."""
import math
import numbers


# control characters (a file name may hold a newline) are shown escaped: the message stays one line
_ESCAPES = {**{i: f"\\x{i:02x}" for i in range(32)}, 9: "\\t", 10: "\\n", 13: "\\r", 0x7F: "\\x7f",
            0x85: "\\x85", 0x2028: "\\u2028", 0x2029: "\\u2029"}


class SRCNNError(Exception):
    """A user-facing error: the message names the file (if any) and the problem, on one line (control
    characters in it, e.g. a newline in a file name, are escaped)."""

    def __str__(self) -> str:
        return super().__str__().translate(_ESCAPES)


def one_line(e: BaseException, limit: int | None = None, whole: bool = False) -> str:
    """Why ``e`` happened, as text for a one-line message: a system error's reason (``strerror`` of an
    OSError, "No such file or directory"), else the first non-blank line of its text (``whole``: all of
    it, each run of whitespace and newlines one space), else its type's name; cut to ``limit`` characters."""
    text = getattr(e, "strerror", None)
    if not (isinstance(text, str) and text):
        text = str(e).strip()
        text = " ".join(text.split()) if whole else (text.splitlines()[0].strip() if text else "")
    return (text or type(e).__name__)[:limit]


def check_number(name: str, value, lo=None, hi=None, *, lo_open: bool = False, hi_open: bool = False,
                 unit: str = ""):
    """``value`` if it is a finite int/float (not a bool) within lo..hi (open ends where asked; None =
    unbounded), else SRCNNError "NAME must be positive / >= LO / in [LO, HI] UNIT, got VALUE" ("must be
    finite and ..." for NaN and +-inf, "must be a number ..." for text). The one range check of the
    numeric options and of numbers read from files."""
    if lo is not None and hi is not None:
        cond = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        cond = "positive" if lo == 0 and lo_open else f"{'>' if lo_open else '>='} {lo:g}"
    elif hi is not None:
        cond = f"{'<' if hi_open else '<='} {hi:g}"
    else:
        cond = ""
    cond += f" {unit}" if unit else ""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)  # numpy scalars too
    if not number:
        raise SRCNNError(f"{name} must be a number{f' ({cond})' if cond else ''}, got {value!r} "
                         f"(a {type(value).__name__})")
    if not math.isfinite(value):
        raise SRCNNError(f"{name} must be finite{' and ' + cond if cond else ''}, got {value}")
    ok = (lo is None or (value > lo if lo_open else value >= lo)) and \
         (hi is None or (value < hi if hi_open else value <= hi))
    if not ok:
        raise SRCNNError(f"{name} must be {cond}, got {value}")
    return value


MAX_SCALE = 255   # scales are integers in 2..MAX_SCALE


def check_scale(value, name: str = "scale") -> int:
    """``value`` as an int when it is a whole number in 2..MAX_SCALE (not a bool), else SRCNNError
    "NAME VALUE: must be an integer >= 2 (at most 255)". The one check of every scale: asked for (the
    API, the CLIs) and read from a file (a checkpoint, the authors' x<s>.mat name, an exported file's
    metadata)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 2 <= value <= MAX_SCALE:
        raise SRCNNError(f"{name} {value!r}: must be an integer >= 2 (at most {MAX_SCALE})")
    return int(value)
