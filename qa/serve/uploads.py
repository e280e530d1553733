"""Reading a file the web page received: bytes Gradio saved in its upload folder, nothing else.

A `gr.File` value is a path that the *client* sends back (`{"path": ..., "meta": {"_type":
"gradio.FileData"}}`), so it can name any file on the server. Gradio checks it only in a
launched app, and ours is mounted; the page therefore reads through `read_received`, which
opens a path only if Gradio's upload route returned it in this process and it is a regular file
inside the upload folder (no symlink on the way, no device or FIFO), caps the size before
reading, and says the same thing for every refusal so that an error never tells whether some
path exists.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from qa.errors import DocumentError

REFUSED = "this upload was not received by the page; choose the file again"


def read_received(
    path: object, folder: Path, received: set[str], max_bytes: int
) -> tuple[str, bytes]:
    """(file name, bytes) of a file Gradio received (`received`: the paths its upload route
    returned) in `folder`, at most `max_bytes`. The file is consumed: read once, then deleted."""
    if not isinstance(path, str) or not path or "\x00" in path or path not in received:
        raise DocumentError(REFUSED)
    given = Path(path)
    root = folder.resolve()
    if not given.is_absolute() or os.path.normpath(given) != str(given):  # relative, "..", "//"
        raise DocumentError(REFUSED)
    if not given.is_relative_to(root) or given == root or Path(os.path.realpath(given)) != given:
        raise DocumentError(REFUSED)  # outside the folder, or through a symlink
    try:
        fd = os.open(given, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise DocumentError(REFUSED) from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):  # /dev/zero, a FIFO, a socket
            raise DocumentError(REFUSED)
        if info.st_size > max_bytes:
            raise DocumentError(
                f"{given.name}: {info.st_size} bytes is over the limit of {max_bytes}"
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while being read
        raise DocumentError(f"{given.name}: over the limit of {max_bytes} bytes")
    received.discard(path)
    given.unlink(missing_ok=True)
    return given.name, data
