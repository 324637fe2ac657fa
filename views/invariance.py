"""Shift a digit (being built)."""

import streamlit as st

st.title("Shift a digit")
st.info("This page is being built.")
