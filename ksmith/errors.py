"""One exception family for bad input, so the CLI and the pytest plugin can report it cleanly.

Every error names what was wrong and what to do; the CLI turns a `KsmithError` into a message on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations


class KsmithError(Exception):
    """Bad input or configuration: the message says what was wrong and how to fix it."""


class WorldError(KsmithError):
    """A knowledge graph that is malformed (cycle, unknown entity or relation, bad file)."""


class DatasetError(KsmithError):
    """A dataset that cannot be built or read (e.g. k larger than the level can give)."""


class ModelError(KsmithError):
    """A model spec or checkpoint that cannot be loaded."""


class MethodError(KsmithError):
    """An unknown method, bad hyper-parameters, or a method that broke its contract."""
