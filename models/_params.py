"""Parameter checking shared by every model family.

All user-facing parameter problems surface as ``ModelParamError``, which names the parameter
the user typed and says what would have been valid.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Sequence

from torch import nn

_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_SIZES_HINT = "write sizes like '64,32'"


class ModelParamError(ValueError):
    """A model parameter has a bad value or is unknown.

    ``str(err)`` reads ``"<param>: <message>"``, e.g.
    ``"layer_sizes: '64,,32' has an empty entry; write sizes like '64,32'"``.
    """

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message

    def __reduce__(self):
        # Ray ships exceptions between processes by pickling; the default reduce would call
        # ModelParamError("<param>: <message>") and fail for want of the second argument.
        return (type(self), (self.param, self.message))


def parse_layer_sizes(value: str | int | Sequence[int]) -> list[int]:
    """Per-layer sizes from ``"64,32"``, ``64`` or ``[64, 32]``; every size a positive int."""
    if isinstance(value, str):
        return _parse_size_string(value)
    if _is_int(value):
        return [_positive_size(value, repr(value))]
    if isinstance(value, (list, tuple)):
        if not value:
            raise ModelParamError("layer_sizes", f"got an empty list; {_SIZES_HINT}")
        for size in value:
            if not _is_int(size):
                raise ModelParamError(
                    "layer_sizes",
                    f"{size!r} in {list(value)!r} is not a whole number; {_SIZES_HINT}",
                )
        return [_positive_size(size, repr(list(value))) for size in value]
    raise ModelParamError(
        "layer_sizes",
        f"expected a string like '64,32', an int or a list of ints, "
        f"got {type(value).__name__} {value!r}",
    )


def format_layer_sizes(sizes: str | int | Sequence[int]) -> str:
    """The canonical string for per-layer sizes: ``[64, 32] -> "64,32"``."""
    return ",".join(str(size) for size in parse_layer_sizes(sizes))


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters (each shared tensor counted once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _parse_size_string(text: str) -> list[int]:
    if not text.strip():
        raise ModelParamError("layer_sizes", f"got an empty string; {_SIZES_HINT}")
    sizes = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            raise ModelParamError("layer_sizes", f"{text!r} has an empty entry; {_SIZES_HINT}")
        if not _WHOLE_NUMBER.fullmatch(entry):
            raise ModelParamError(
                "layer_sizes", f"{entry!r} in {text!r} is not a whole number; {_SIZES_HINT}"
            )
        sizes.append(_positive_size(int(entry), repr(text)))
    return sizes


def _positive_size(size: int, shown: str) -> int:
    if size < 1:
        raise ModelParamError(
            "layer_sizes", f"sizes must be positive, got {size} in {shown}; {_SIZES_HINT}"
        )
    return int(size)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


# Range checks used by the configs' validate() methods.


def check_int(param: str, value: object, *, minimum: int) -> None:
    if not _is_int(value):
        raise ModelParamError(param, f"expected an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ModelParamError(param, f"must be >= {minimum}, got {value}")


def check_optional_int(param: str, value: object, *, minimum: int) -> None:
    if value is not None:
        check_int(param, value, minimum=minimum)


def check_dropout(param: str, value: object) -> None:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ModelParamError(param, f"expected a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        raise ModelParamError(param, f"must be in [0, 1), got {value}")


def check_bool(param: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ModelParamError(param, f"expected true or false, got {value!r}")


def check_choice(param: str, value: object, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ModelParamError(param, f"got {value!r}; valid: {', '.join(choices)}")


def check_layer_sizes(value: object) -> None:
    """Sizes held by a config must already be a list (build parses strings before)."""
    if not isinstance(value, list):
        raise ModelParamError(
            "layer_sizes",
            f"a config holds a list of ints, got {value!r}; convert with models.parse_layer_sizes",
        )
    parse_layer_sizes(value)
