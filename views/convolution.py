"""Convolution, step by step (being built)."""

import streamlit as st

st.title("Convolution, step by step")
st.info("This page is being built.")
