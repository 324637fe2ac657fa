"""Architecture: the layer table with every parameter count explained, and a diagram."""

import json

import pandas as pd
import streamlit as st

from mnist_model.engine.network import format_shape, notes_slip, summary_rows
from mnist_model.engine.storage import read_card
from mnist_model.figures.alt import architecture_alt
from mnist_model.figures.common import architecture_diagram
from ui.current import active_model_path, predictor
from ui.text import plain

NOTES = ("The bundled convnet is listing 5.1 of François Chollet's book *Deep Learning with Python*. Some course "
         "notes that teach that listing (this app started from them; you have not seen them) print its "
         "`model.summary()` table. Checking their table by hand, with the rules above, turns up a mistake.")

st.title("Architecture")
model = predictor().model
rows = summary_rows(model)

st.metric("Total parameters", f"{model.count_params():,}")
st.plotly_chart(architecture_diagram(rows), key="diagram", config={"displayModeBar": False}, alt=architecture_alt(rows))
st.dataframe(
    [{"Layer (type)": f"{r['layer']} ({r['type']})",
      "Output shape": f"(None, {', '.join(map(str, r['output_shape']))})",
      "Param #": r["params"], "How it is counted": r["formula"]} for r in rows],
    hide_index=True, width="stretch", key="summary_table")
st.caption("A convolution has (kernel height × width × input channels) weights plus one bias per filter. A "
           "max-pool and a flatten only move numbers around. A dense layer has one weight per input per unit, "
           "plus a bias. A batch normalization keeps four numbers per channel, two of them learned.")

card = read_card(active_model_path())
if card:
    with st.expander("Model card"):
        if card.get("uploaded"):
            who = f" by {plain(card['uploaded_by'])}" if card.get("uploaded_by") else ""
            st.markdown(f"**Uploaded**{who} on {plain(card.get('uploaded_at', '?'))} from "
                        f"{plain(card.get('original_name', '?'))}. Not trained here, so no recipe or test "
                        f"accuracy is on record.")
        else:
            accuracy = card.get("test_accuracy")
            score = f" · test accuracy **{accuracy:.2%}**" if isinstance(accuracy, (int, float)) else ""
            st.markdown(f"**{plain(card.get('recipe', '?'))} recipe**{score} · trained in "
                        f"{card.get('training_seconds', 0):.0f} s · {plain(card.get('created', ''))}")
        if card.get("command"):
            st.code(card["command"], language="bash")
        st.json(json.dumps(card.get("config", card)))
st.caption(" → ".join(f"{r['layer']} {format_shape(r['output_shape'])}" for r in rows))


@st.cache_data(show_spinner=False)
def _notes_slip() -> list[dict]:
    return notes_slip()


def _slip_table(rows: list[dict], which: str) -> "pd.io.formats.style.Styler":
    table = pd.DataFrame([{"Layer": r["layer"], "Output shape": format_shape(r[f"{which}_shape"]),
                           "Param #": r[f"{which}_params"], "How it is counted": r[f"{which}_formula"]}
                          for r in rows])
    differs = [r["printed_shape"] != r["text_shape"] or r["printed_params"] != r["text_params"] for r in rows]
    return table.style.apply(lambda row: ["background-color: rgba(255, 75, 75, 0.15)" if differs[row.name] else ""]
                             * len(row), axis=1)


st.subheader("Check a printed table by hand")
slip = _notes_slip()
printed_total, text_total = (sum(r[f"{w}_params"] for r in slip) for w in ("printed", "text"))
st.markdown(NOTES)
st.markdown("The notes' text says conv_3 outputs **(3, 3, 64)**, flattened to **576** numbers. But the table they "
            "print counts **36,351** parameters for conv_3, a flatten of **567** and **36,352** for the dense "
            "layer. Those are the numbers of a conv_3 with **63** filters: the table does not match the text "
            "beside it. The rows that differ are shaded.")
left, right = st.columns(2)
left.markdown(f"**The table as the notes print it** (conv_3 with 63 filters): {printed_total:,} parameters")
left.dataframe(_slip_table(slip, "printed"), hide_index=True, width="stretch")
right.markdown(f"**As their text says** (conv_3 with 64 filters, this app's model): {text_total:,} parameters")
right.dataframe(_slip_table(slip, "text"), hide_index=True, width="stretch")
st.markdown("- conv_3: (3 × 3 × 64 + 1) × **63** = 577 × 63 = **36,351**, against 577 × 64 = 36,928\n"
            "- flatten: 3 × 3 × **63** = **567**, against 3 × 3 × 64 = 576\n"
            "- dense: (567 + 1) × 64 = **36,352**, against (576 + 1) × 64 = 36,928\n"
            f"- in all {text_total:,} − {printed_total:,} = {text_total - printed_total:,} parameters fewer.")
