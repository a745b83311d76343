"""Origins an attacker sends: small files that make a decoder loop, expand, or stop short."""

from __future__ import annotations

import io
import struct
from pathlib import Path


def looping_tiff() -> bytes:
    """An 8 x 8 gray TIFF (186 bytes) whose first directory names itself as the next one."""
    width = height = 8
    entries = [(256, 3, width), (257, 3, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 4, 0), (277, 3, 1), (278, 3, height), (279, 4, width * height)]  # fmt: skip
    directory = 8
    pixels = directory + 2 + 12 * len(entries) + 4
    out = bytearray(b"II*\0" + struct.pack("<I", directory) + struct.pack("<H", len(entries)))
    for tag, kind, value in entries:
        value = pixels if tag == 273 else value  # (where the strip is)
        if kind == 3:
            out += struct.pack("<HHIHH", tag, kind, 1, value, 0)
        else:
            out += struct.pack("<HHII", tag, kind, 1, value)
    out += struct.pack("<I", directory)  # (the next directory: this one again)
    out += bytes(range(0, 256, 4))
    return bytes(out)


def rle_bmp(side: int = 15800) -> bytes:
    """A square 8-bit BMP of ``side`` pixels in run-length encoding: 2 MB for 15800 x 15800,
    which Pillow decodes whole (libvips has no BMP loader)."""
    row = bytearray()
    left = side
    while left:
        run = min(255, left)
        row += bytes([run, (left // 255) % 256])
        left -= run
    row += b"\0\0"  # (end of line)
    data = bytes(row) * side + b"\0\1"  # (end of bitmap)
    palette = b"".join(bytes([i, 255 - i, (i * 7) % 256, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(data), 2835, 2835, 256, 0)
    header = b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
    return header + info + palette + data


def truncated_jpeg(path: Path, size: tuple[int, int] = (800, 600), keep: float = 0.4) -> bytes:
    """A real JPEG of ``size`` cut after ``keep`` of its bytes."""
    from PIL import Image

    picture = Image.effect_mandelbrot(size, (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    whole = out.getvalue()
    return whole[: int(len(whole) * keep)]


def huge_declared_jpeg(side: int = 15000) -> bytes:
    """A tiny JPEG (under 1 KB) whose header declares ``side`` x ``side`` pixels."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (8, 8), 128).save(out, "JPEG", quality=50)
    data = bytearray(out.getvalue())
    at = data.index(b"\xff\xc0") + 5  # (SOF0: length, precision, then height and width)
    data[at : at + 4] = struct.pack(">HH", side, side)
    return bytes(data)
