"""User-supplied names never format, link or inject HTML when shown in Markdown; messages are shown whole."""

import pytest

from ui.text import plain


@pytest.mark.parametrize("name, shown", [
    ("<script>alert(1)</script>", r"\<script\>alert\(1\)\</script\>"),
    ("[click](http://evil.example)", "\\[click\\]\\(http\u200b\\://evil.example\\)"),
    ("![x](http://tracker.example/p.png)", "\\!\\[x\\]\\(http\u200b\\://tracker.example/p.png\\)"),
    ("www.evil.example", "www\u200b.evil.example"),  # GFM links these after undoing escapes
    ("me@example.org", "me\u200b\\@example.org"),
    ("**bold** `code` $x$ # title | table ~strike~", r"\*\*bold\*\* \`code\` \$x\$ \# title \| table \~strike\~"),
    ("a_b_c", r"a\_b\_c"),
    ("__init__", r"\_\_init\_\_"),
    ("Tom & Jerry", r"Tom \& Jerry"),
    ("&amp;", r"\&amp;"),
    ("&#60;b&#62;", r"\&\#60;b\&\#62;"),
    ("<b>x</b>", r"\<b\>x\</b\>"),
    ("*x*", r"\*x\*"),
    (":red[alarm] :material/home:", r"\:red\[alarm\] \:material/home\:"),
    ("- not a list", r"\- not a list"),
    ("1. not a list", r"1\. not a list"),
    ("seed-20261125_v2.keras", r"seed-20261125\_v2.keras"),
    ("line\nbreak\x00", "linebreak"),
])
def test_markup_is_escaped_and_plain_names_are_untouched(name, shown):
    assert plain(name) == shown


def test_long_names_may_be_cut():
    assert plain("x" * 10_000, limit=20) == "x" * 19 + "…"


def test_messages_are_never_cut():
    message = ("The model file has a layer Keras cannot build: Dense(units=0). Retrain or export it again "
               "with Keras 3, then upload it. The active model is unchanged.")
    assert plain(ValueError(message)) == message.replace("(", r"\(").replace(")", r"\)").replace(":", r"\:")
