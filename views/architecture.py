"""Architecture: the layer table with every parameter count explained, and a diagram."""

import json

import streamlit as st

from mnist_model.figures import architecture_diagram
from mnist_model.network import format_shape, summary_rows
from mnist_model.storage import read_card
from ui.current import active_model_path, predictor
from ui.text import plain

st.title("Architecture")
model = predictor().model
rows = summary_rows(model)

st.metric("Total parameters", f"{model.count_params():,}")
st.plotly_chart(architecture_diagram(rows), key="diagram", config={"displayModeBar": False})
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
