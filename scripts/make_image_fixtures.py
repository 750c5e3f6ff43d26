#!/usr/bin/env python3
"""Writes Tests/ConvKitTests/Fixtures/rgb-4x3.png (8-bit RGB, 4 wide, 3 high) and
grey-alpha-2x2.png (8-bit grey + alpha), encoded by hand with zlib, for ImageFile's tests.
Pixel (x, y) of the RGB image is (40x + 10, 80y + 5, 255 - 60x). The grey one is
[[0, 255], [128, 64]] with alpha [[255, 255], [255, 0]].

Run: python3 scripts/make_image_fixtures.py
"""
import os, struct, zlib

def png(path, width, height, color_type, rows):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(path, "wb").write(data)

folder = os.path.join(os.path.dirname(__file__), "..", "Tests", "ConvKitTests", "Fixtures")
png(os.path.join(folder, "rgb-4x3.png"), 4, 3, 2,
    [[v for x in range(4) for v in (40 * x + 10, 80 * y + 5, 255 - 60 * x)] for y in range(3)])
png(os.path.join(folder, "grey-alpha-2x2.png"), 2, 2, 4, [[0, 255, 255, 255], [128, 255, 64, 0]])
print("wrote rgb-4x3.png and grey-alpha-2x2.png")
