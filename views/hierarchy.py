"""What each unit sees (being built)."""

import streamlit as st

st.title("What each unit sees")
st.info("This page is being built.")
