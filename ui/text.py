"""Putting user-supplied text (file names, model names, nicknames) into Markdown safely."""

import re

_MARKDOWN = re.compile(r"([\\`*\[\]()<>#!|~$:])")  # not "_": GFM ignores it inside words


def plain(text: object, limit: int = 120) -> str:
    """``text`` as literal Markdown: every markup character escaped, control characters
    dropped, and cut to ``limit`` characters, so a name can neither format nor link."""
    clean = "".join(ch for ch in str(text) if ch.isprintable())
    if len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    return _MARKDOWN.sub(r"\\\1", clean)
