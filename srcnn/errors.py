"""The one exception type the library raises for bad input; the CLIs print it as one line."""


class SRCNNError(Exception):
    """A user-facing error: the message names the file (if any) and the problem."""
