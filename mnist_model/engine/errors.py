"""The engine's own exceptions, below every module that raises them."""


class ModelFileError(ValueError):
    """A model file cannot be used; the message says why and what to do."""
