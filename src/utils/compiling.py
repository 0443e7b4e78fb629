"""``torch.compile`` where the machine can compile, the plain function where it cannot.

On a CPU, torch's default compiler (Inductor) fuses the element-wise work between matrix products
into generated C++ (it needs a C++ compiler on the machine); where that fails (no compiler, an op
it does not support), a run should go on at the eager speed rather than stop, and say so once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar

import torch

P = ParamSpec("P")
R = TypeVar("R")


class CompiledOrEager(Generic[P, R]):
    """Calls ``fn`` compiled by ``torch.compile`` (static shapes: one graph per input shape).

    The first call compiles; when compiling fails, this warns once, naming ``what`` and the
    compiler's error, and calls ``fn`` itself from then on. An error of ``fn`` itself (a bad shape,
    say) fails the compiler's trace too, and then the eager call raises it as ``fn`` would.
    """

    def __init__(self, fn: Callable[P, R], what: str) -> None:
        self.fn = fn
        self.what = what
        self.compiled: Callable[P, R] | None = torch.compile(fn, dynamic=False)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except torch._dynamo.exc.TorchDynamoException as error:  # torch imports _dynamo on first use
                self.compiled = None
                warnings.warn(f"torch.compile of {self.what} failed ({_reason(error)}); running it uncompiled",
                              RuntimeWarning, stacklevel=2)
        return self.fn(*args, **kwargs)


def _reason(error: Exception) -> str:
    """The compiler's error in one line: the backend's own exception where it wraps one."""
    cause = getattr(error, "inner_exception", None) or error.__cause__ or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
