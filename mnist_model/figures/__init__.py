"""Plotly figures from the arrays and dataclasses the engine and the lab return.

``common``: colours, heatmaps, probability bars, training curves; one module per lab page
(``convolution``, ``shift``, ``data_efficiency``, ``hierarchy``, ``explain``, ``evaluation``);
``numbers``: numbers written for people (no probability rounded to 100%, changes in points);
``alt``: each chart's text alternative, one sentence with its numbers.
"""
