"""Model names that read unambiguously: what a file name can hold, in letters no one can mistake.

A name is shown in every session's picker, so a name must not pass for another model's:
no right-to-left or zero-width characters, no Cyrillic or Greek letter that looks Latin, no
"(…, bundled)" badge of the models that ship with the app, and no name that looks like a
name already taken (``skeleton``: "c1assic" and "clássic" read as "classic").
"""

from __future__ import annotations

import re
import unicodedata

from .errors import ModelFileError

MAX_NAME_CHARS = 60  # a model name's length
MAX_NAME_BYTES = 180  # room for the longest "<name>.<sidecar>" and temp files within 255 bytes
READABLE_RULE = ("A model name may use ASCII letters and digits, spaces, - _ ( ) + , ! ' and Latin letters "
                 "with accents (such as é, ü, ñ)")
_READABLE_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_()+,!'")
_UNFIT = re.compile(r'[/\\:*?"<>|.\x00-\x1f\x7f]+')  # unfit for a file name (the dot parts a model from its card)
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))}
_LOOKALIKE = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l"})  # after casefold: I and l are one glyph
_LOOKALIKE_PAIRS = (("rn", "m"), ("vv", "w"))
BADGE_WORD = "bundled"  # the picker's mark of a model shipped with the app
BADGE_KINDS = ("convnet", "dense network")  # what the picker says a bundled model is: "classic (convnet, ..., bundled)"


def readable(ch: str) -> bool:
    """Whether ``ch`` reads as itself: a readable ASCII character, or a Latin letter with accents
    (one that decomposes into an ASCII letter and combining marks only)."""
    if ch in _READABLE_ASCII:
        return True
    base, *marks = unicodedata.normalize("NFD", ch)
    return (bool(marks) and base in _READABLE_ASCII and base.isalpha()
            and all(unicodedata.category(m) == "Mn" for m in marks))


def check_readable(text: str) -> None:
    """Raise ModelFileError when ``text`` (after NFKC) holds a character that ``readable`` refuses,
    other than those a file name cannot hold (``sanitize_model_name`` replaces those)."""
    name = unicodedata.normalize("NFKC", text)
    odd = sorted({ch for ch in _UNFIT.sub("", name) if not ch.isspace() and not readable(ch)})
    if odd:
        shown = ", ".join(f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed')}" for ch in odd[:3])
        raise ModelFileError(f"{READABLE_RULE}; this name also holds {shown}{'…' if len(odd) > 3 else ''}.")


def sanitize_model_name(text: str) -> str:
    """A model's file stem from the name a person typed or a browser sent: the readable name,
    with what a file name cannot hold and what does not read unambiguously replaced.

    Args:
        text: a name or file name, e.g. ``"run 1/2"``, ``"tiny <i>net</i>"`` or ``"my model (v2).keras"``.

    Returns:
        The NFKC name without ``.keras``, each run of characters a file name cannot hold
        (``/ \\ : * ? " < > |``, control characters, the dot) or that ``readable`` refuses
        made one ``-`` between two kept characters and dropped beside a space or at either
        end; spaces collapsed; at most 60 characters and 180 bytes; never empty (``"model"``)
        nor a name Windows reserves: ``"run 1-2"``, ``"tiny i-net-i"``, ``"my model (v2)"``.
    """
    name = " ".join(unicodedata.normalize("NFKC", text).split())  # tabs and new lines too: one space
    name = re.sub(r"\.keras$", "", name, flags=re.IGNORECASE)
    name = "".join(ch if readable(ch) else "/" for ch in name)  # "/" is unfit: replaced just below
    name = " ".join(_UNFIT.sub(lambda m: "-" if _between_kept(m) else " ", name).split())
    while len(name) > MAX_NAME_CHARS or len(name.encode()) > MAX_NAME_BYTES:
        name = name[:-1]
    name = name.strip(" -") or "model"
    return f"{name}-model" if name.upper() in _RESERVED else name


def _between_kept(match: re.Match) -> bool:
    """Whether a run of unfit characters has a kept, non-space character on both sides."""
    text, start, end = match.string, match.start(), match.end()
    return start > 0 and end < len(text) and not text[start - 1].isspace() and not text[end].isspace()


def skeleton(name: str) -> str:
    """How ``name`` looks at a glance: case, accents, separators and look-alike glyphs (0/o, 1/l/I,
    rn/m, vv/w) folded away; two names with one skeleton can pass for each other."""
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", name) if unicodedata.category(ch) != "Mn")
    folded = " ".join(re.sub(r"[-_\s]+", " ", bare.casefold()).split()).translate(_LOOKALIKE)
    for pair, glyph in _LOOKALIKE_PAIRS:
        folded = folded.replace(pair, glyph)
    return folded


def check_no_badge(name: str, bundled_names) -> None:
    """Raise ModelFileError when ``name`` claims the bundled models' badge.

    Args:
        name: a sanitized model name.
        bundled_names: the stems of the models shipped with the app.
    """
    shape = skeleton(name)
    if skeleton(BADGE_WORD) in shape.replace(" ", ""):  # "bund-led" and "b u n d l e d" too
        raise ModelFileError(f"A model name may not contain the word {BADGE_WORD!r}: the picker marks the models "
                             f"that ship with the app with it. Choose another name.")
    for bundled in bundled_names:
        if any(shape.startswith(skeleton(f"{bundled} ({kind}")) for kind in BADGE_KINDS):
            raise ModelFileError(f"A model name may not start like the bundled model {bundled!r} and its badge, "
                                 f"'{bundled} ({'/'.join(BADGE_KINDS)}, …)'. Choose another name.")


def look_alike(name: str, others) -> str | None:
    """The first of ``others`` that ``name`` could pass for in the picker (same ``skeleton``), else None."""
    shape = skeleton(name)
    return next((other for other in others if skeleton(other) == shape), None)
