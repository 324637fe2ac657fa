"""Sentences the lab's checks are said in, importable without TensorFlow (a page shows them before it loads)."""

UNFAMILIAR = ("This does not look like the handwritten digits the network learnt from, "
              "so its answer means little.")  # lab.familiarity: a drawing unlike the training digits
