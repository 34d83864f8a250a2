#!/usr/bin/env python3
"""Draws assets/icon.png (256 x 256, RGBA) with the standard library only.

The picture: a frozen weight matrix W (grey block) with its low-rank update
beside it, B (a tall thin orange bar) times A (a wide thin orange bar), and a
falling loss curve (green) across it, on a dark-blue rounded square.
Run: python3 assets/make_icon.py
"""
import math
import struct
import zlib
from pathlib import Path

N = 256


def inside_rounded(x, y, x0, y0, x1, y1, r):
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r and x0 <= x <= x1 and y0 <= y <= y1


def pixel(x, y):
    if not inside_rounded(x, y, 8, 8, 247, 247, 44):
        return (0, 0, 0, 0)
    # The loss curve, falling from the top left, drawn 7 px thick.
    if 36 <= x <= 220:
        cy = 200 - 128 * math.exp(-(x - 36) / 48)
        if abs(y - cy) <= 3.5:
            return (90, 210, 120, 255)
    if 40 <= x <= 150 and 60 <= y <= 200:  # W
        return (150, 160, 175, 255)
    if 168 <= x <= 184 and 60 <= y <= 200:  # B: [out, r]
        return (245, 150, 50, 255)
    if 168 <= x <= 222 and 212 <= y <= 226:  # A: [r, in]
        return (245, 150, 50, 255)
    return (28, 52, 88, 255)


def png(width, height, rows):
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


rows = [[pixel(x + 0.5, y + 0.5) for x in range(N)] for y in range(N)]
Path(__file__).with_name("icon.png").write_bytes(png(N, N, rows))
