"""Textbook affine SM2 point arithmetic: slow and obviously right, independent of Sentinel's
fast Jacobian code, so tests can check that code (and act as an independent ECDH peer) without
depending on a third-party implementation that fails for some inputs."""

from __future__ import annotations

from sentinel.crypto import sm2


def reference_add(a: sm2.Point | None, b: sm2.Point | None) -> sm2.Point | None:
    if a is None:
        return b
    if b is None:
        return a
    if a.x == b.x and (a.y + b.y) % sm2.P == 0:
        return None
    if a == b:
        slope = (3 * a.x * a.x + sm2.A) * pow(2 * a.y, -1, sm2.P) % sm2.P
    else:
        slope = (b.y - a.y) * pow(b.x - a.x, -1, sm2.P) % sm2.P
    x = (slope * slope - a.x - b.x) % sm2.P
    return sm2.Point(x, (slope * (a.x - x) - a.y) % sm2.P)


def reference_multiply(k: int, point: sm2.Point) -> sm2.Point | None:
    result: sm2.Point | None = None
    addend: sm2.Point | None = point
    while k:
        if k & 1:
            result = reference_add(result, addend)
        addend = reference_add(addend, addend)
        k >>= 1
    return result
