"""ksmith: measure how a language model's knowledge changes when it is edited or unlearned.

Importing the package does no work: heavy modules (torch, transformers) are imported by the
submodules that need them, so `ksmith --help` and the pytest plugin start fast.
"""

__version__ = "0.1.0"
