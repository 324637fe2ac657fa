"""Learning from few digits (being built)."""

import streamlit as st

st.title("Learning from few digits")
st.info("This page is being built.")
