"""srcnn.errors: the one-line error type, one_line (an exception as message text), the number and scale
checks."""
import errno

import numpy as np
import pytest

from srcnn.errors import SRCNNError, check_number, check_scale, one_line


def test_one_line():
    assert one_line(FileNotFoundError(errno.ENOENT, "No such file or directory", "a.png")) == \
        "No such file or directory"                                     # a system error: its reason
    assert one_line(RuntimeError("\n  first line \nsecond line\n")) == "first line"
    assert one_line(RuntimeError("a\n\tb  c\n"), whole=True) == "a b c"
    assert (one_line(ValueError()), one_line(OSError()), one_line(RuntimeError("  \n"))) == \
        ("ValueError", "OSError", "RuntimeError")                       # no text: the type's name
    assert one_line(RuntimeError("x" * 500), 300) == "x" * 300
    assert str(SRCNNError(f"{'bad'}: {one_line(RuntimeError('one' + chr(10) + 'two'))}")) == "bad: one"


def test_check_scale():
    assert check_scale(3) == 3 and check_scale(np.int64(255)) == 255 and type(check_scale(np.int64(2))) is int
    for bad in (1, 0, 256, 2.0, "3", True, None):
        with pytest.raises(SRCNNError, match=r"must be an integer >= 2 \(at most 255\)"):
            check_scale(bad, "--scale")


def test_check_number():
    assert check_number("x", 0.5, 0, 1) == 0.5
    with pytest.raises(SRCNNError, match=r"x must be in \[0, 1\], got 2"):
        check_number("x", 2, 0, 1)
    with pytest.raises(SRCNNError, match="x must be finite"):
        check_number("x", float("nan"), 0)
    with pytest.raises(SRCNNError, match="x must be a number"):
        check_number("x", "1")
