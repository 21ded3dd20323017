"""Update operators: one interface (`Method`), a registry, editing and unlearning methods."""

from ksmith.methods.base import Hparams, Method, UpdateRequest, UpdateResult
from ksmith.methods.registry import available_methods, get_method, method_info, register_method

__all__ = [
    "Hparams",
    "Method",
    "UpdateRequest",
    "UpdateResult",
    "available_methods",
    "get_method",
    "method_info",
    "register_method",
]
