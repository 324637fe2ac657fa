"""Putting user-supplied text (file names, model names, nicknames, error messages) into Markdown safely."""

import re

# Every character Markdown (CommonMark, GFM, Streamlit's :colour[...] and :icon:) may read as markup
# anywhere in a line; CommonMark shows a backslash-escaped ASCII punctuation character as itself.
_MARKDOWN = re.compile(r"([\\`*_\[\]()<>#!|~$:&@{}])")
# ... and those that only mean something at the start of a line: a list item, a heading underline
_BULLET = re.compile(r"^(\s*)([-+=])")
_NUMBERED = re.compile(r"^(\s*\d+)([.)])")
# GFM turns web addresses and e-mail addresses into links after escapes are undone: an invisible
# zero-width space breaks "http://", "www." and "@" so that a name never becomes a link
_AUTOLINK = re.compile(r"(?i)(?=://)|(?<=\bwww)(?=\.)|(?=@)")
_BREAK = "\u200b"


def plain(text: object, limit: int | None = None) -> str:
    """``text`` as literal Markdown: every markup character escaped, control characters dropped,
    web and e-mail addresses kept from becoming links.

    Args:
        text: a name or a message (an exception gives its message).
        limit: cut to this many characters, with "…", for a name that must stay short;
            None (the default) keeps everything, as a message must be read whole.
    """
    clean = "".join(ch for ch in str(text) if ch.isprintable())
    if limit is not None and len(clean) > limit:
        clean = clean[: limit - 1] + "…"
    clean = _AUTOLINK.sub(_BREAK, clean)
    escaped = _BULLET.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", clean), count=1)
    return _NUMBERED.sub(r"\1\\\2", escaped, count=1)
