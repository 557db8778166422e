"""Special files for the 'only regular files are read' tests: a FIFO with no writer (opening it for
reading blocks forever in a plain open()), a character device, and a call bounded by a timeout."""
from __future__ import annotations

import os
import threading


def fifo(path):
    os.mkfifo(path)
    return path


def finishes(fn, timeout: float = 20.0):
    """Run ``fn()`` in a daemon thread; (True, result or exception) if it ended within ``timeout``,
    (False, None) if it is still blocked (it is left behind, blocked, as a daemon)."""
    box = {}

    def target():
        try:
            box["r"] = fn()
        except BaseException as e:  # noqa: BLE001 (handed to the test)
            box["r"] = e
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    return (not t.is_alive()), box.get("r")


def full_disk_at(path):
    """Make this process's temporary name for ``path`` (srcnn.files.temporary_name, which every writer
    goes through) a link to /dev/full: writing it fails with a real ENOSPC. Skips, loudly, where the
    system has no /dev/full."""
    import pytest
    from srcnn.files import temporary_name
    if not os.path.exists("/dev/full"):
        pytest.skip("DISK-FULL TEST NOT RUN: this system has no /dev/full")
    tmp = temporary_name(path)
    tmp.symlink_to("/dev/full")
    return tmp
