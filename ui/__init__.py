"""The Streamlit face's shared pieces: cached resources, the sidebar, the current input."""
