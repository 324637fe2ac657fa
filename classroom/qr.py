"""The join link and its QR code, for the teacher to put on the projector."""

from __future__ import annotations

import io
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import segno

from .store import normalize_code

QR_SCALE = 10  # pixels per module: about 400 px for a join link, sharp on a projector
QR_BORDER = 4  # modules of quiet zone around the code, as the standard asks


def join_url(base_url: str, code: str) -> str:
    """The link students open: the app's address with ``?class=CODE``, its other query parameters kept."""
    parts = urlsplit(base_url)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "class"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("class", normalize_code(code))])))


def qr_png(text: str, scale: int = QR_SCALE) -> bytes:
    """A PNG of a QR code holding ``text``, black on white, with the standard quiet zone.

    Always a full QR code (never a Micro QR, which phone cameras often ignore), at error
    correction level M or better so a smudged projector still scans.
    """
    code = segno.make_qr(text, error="m")
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=QR_BORDER)
    return out.getvalue()
