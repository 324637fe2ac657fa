"""User-supplied names never format, link or inject HTML when shown in Markdown."""

import pytest

from ui.text import plain


@pytest.mark.parametrize("name, shown", [
    ("<script>alert(1)</script>", r"\<script\>alert\(1\)\</script\>"),
    ("[click](http://evil.example)", r"\[click\]\(http\://evil.example\)"),
    ("![x](http://tracker.example/p.png)", r"\!\[x\]\(http\://tracker.example/p.png\)"),
    ("**bold** `code` $x$ # title | table ~strike~", r"\*\*bold\*\* \`code\` \$x\$ \# title \| table \~strike\~"),
    ("seed-20261125_v2.keras", "seed-20261125_v2.keras"),
    ("line\nbreak\x00", "linebreak"),
])
def test_markup_is_escaped_and_plain_names_are_untouched(name, shown):
    assert plain(name) == shown


def test_long_names_are_cut():
    assert plain("x" * 10_000, limit=20) == "x" * 19 + "…"
