#!/usr/bin/env python3
"""libgd is loaded at the first thumbnail, not at start.

Linked directly, libgd brings some fifty shared libraries (HEIF, AVIF, TIFF, X11...) into the
server's memory at start. A running `hearth serve` must not have it mapped until a client asks
for a thumbnail; then the thumbnail is made, and libgd is mapped.

Run: .venv/bin/python3 Tests/Clients/test_lazy_thumbnailer.py   (Scripts/test.sh runs it)
"""
from __future__ import annotations

import json
import struct
import sys
import unittest
import urllib.request
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hearth_server import HearthProcess, request  # noqa: E402


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG, one colour, made with the standard library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x20\x80\xe0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def mapped_libraries(pid: int) -> set[str]:
    return {Path(line.split()[-1]).name for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
            if line.split()[-1].startswith("/")}


class LazyThumbnailer(unittest.TestCase):
    def test_libgd_is_mapped_only_after_the_first_thumbnail(self) -> None:
        with HearthProcess() as server:
            self.assertFalse(any(name.startswith("libgd.so") for name in mapped_libraries(server.pid)),
                             "libgd is mapped before any thumbnail was asked for")
            status, body = request(server.base_url, "POST", "/_matrix/client/v3/register",
                                   body={"username": "pat", "password": "pat-pw", "auth": {"type": "m.login.dummy"}})
            self.assertEqual(status, 200, body)
            token = body["access_token"]
            upload = urllib.request.Request(f"{server.base_url}/_matrix/media/v3/upload", data=png(64, 32), method="POST")
            upload.add_header("Content-Type", "image/png")
            upload.add_header("Authorization", f"Bearer {token}")
            with urllib.request.urlopen(upload, timeout=30) as response:
                mxc = json.loads(response.read())["content_uri"]
            server_name, media_id = mxc.removeprefix("mxc://").split("/", 1)
            thumbnail = urllib.request.Request(
                f"{server.base_url}/_matrix/client/v1/media/thumbnail/{server_name}/{media_id}?width=16&height=16&method=scale")
            thumbnail.add_header("Authorization", f"Bearer {token}")
            with urllib.request.urlopen(thumbnail, timeout=30) as response:
                self.assertEqual(response.headers["Content-Type"], "image/png")
                made = response.read()
            self.assertTrue(made.startswith(b"\x89PNG"))
            width, height = struct.unpack(">II", made[16:24])
            self.assertEqual((width, height), (32, 16))
            self.assertTrue(any(name.startswith("libgd.so") for name in mapped_libraries(server.pid)),
                            "the thumbnail was made without libgd?")


if __name__ == "__main__":
    unittest.main(verbosity=2)
