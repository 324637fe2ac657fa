"""Sentences a page shows while the server works for it."""

from __future__ import annotations

import os

import streamlit as st

from server.resources import preparer


def preparing_notice(path: str | os.PathLike, what: str) -> None:
    """Say that ``what`` of the model at ``path`` is still being prepared, and how far along."""
    job = preparer().state(str(path))
    where = ""
    if job is not None and job.status == "queued":
        where = f" (it waits, {preparer().in_line(job.key)})"
    elif job is not None and job.active:
        where = f" ({job.done:.0%}: {job.what})"
    st.info(f"The lab is still preparing {what} for this model{where}. This part of the page fills in by itself "
            f"when it is ready, usually within a minute or two.", icon=":material/hourglass_top:")
