"""Every chart and picture on a page has a text alternative: each ``plotly_chart`` and ``image`` call in
``app.py``, ``views/`` and ``ui/`` passes ``alt=`` something to say (an AST scan of the source)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([ROOT / "app.py", *(ROOT / "views").glob("*.py"), *(ROOT / "ui").glob("*.py")])


def calls_in(tree: ast.AST, name: str) -> list[ast.Call]:
    """The calls of ``name``, as a method (``st.image``, ``column.plotly_chart``) or a function."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and name in (getattr(node.func, "attr", None), getattr(node.func, "id", None))]


def says_nothing(call: ast.Call) -> bool:
    """No ``alt``, or one that says nothing: None or a blank string."""
    alt = next((k.value for k in call.keywords if k.arg == "alt"), None)
    return alt is None or (isinstance(alt, ast.Constant) and not (isinstance(alt.value, str) and alt.value.strip()))


@pytest.mark.parametrize("name, at_least", [("plotly_chart", 35), ("image", 10)])
def test_every_chart_and_picture_passes_a_text_alternative(name, at_least):
    found = [(f"{path.relative_to(ROOT)}:{call.lineno}", call) for path in SOURCES
             for call in calls_in(ast.parse(path.read_text(), filename=str(path)), name)]
    assert len(found) >= at_least, f"the scan found only {len(found)} {name} calls: it no longer sees them"
    missing = [where for where, call in found if says_nothing(call)]
    assert not missing, f"{name} without a text alternative (alt=...): {missing}"


def test_the_scan_sees_a_missing_or_blank_alt():
    tree = ast.parse("st.plotly_chart(fig, key='a')\ncolumn.plotly_chart(fig, alt=' ')\n"
                     "st.plotly_chart(fig, alt=None)\nst.plotly_chart(fig, alt=words(probs))\n")
    assert [says_nothing(call) for call in calls_in(tree, "plotly_chart")] == [True, True, True, False]
