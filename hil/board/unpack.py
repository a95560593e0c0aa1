"""Runs on the board: unpack the wheels streamed to standard input into the wheelhouse.

Sent as ``python3 -c <this file> WHEELHOUSE`` with an uncompressed tar stream on stdin (wheels
are already compressed). Only regular ``*.whl`` files at most one directory deep are accepted,
so a stream can never write outside the wheelhouse; each file is written beside its final name
and renamed into place, so an interrupted upload never leaves a truncated wheel that the next
deploy would take for a complete one. Prints one marked JSON line: the files written.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile


def _safe_name(name: str) -> bool:
    parts = name.split("/")
    return (name.endswith(".whl") and len(parts) <= 2
            and all(part and part not in (".", "..") for part in parts))


def main(argv: list[str]) -> int:
    dest = os.path.abspath(os.path.expanduser(argv[1]))
    os.makedirs(dest, mode=0o700, exist_ok=True)
    written = []
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
        for member in tar:
            if not member.isfile() or not _safe_name(member.name):
                sys.stderr.write(f"refusing {member.name!r}: not a wheel file\n")
                return 1
            target = os.path.join(dest, *member.name.split("/"))
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            source = tar.extractfile(member)
            if source is None:
                return 1
            partial = target + ".part"
            with open(partial, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.replace(partial, target)
            written.append(member.name)
    sys.stdout.write("SUNLIT-JSON " + json.dumps({"written": written}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
