"""utils.compiling.CompiledOrEager: the compiled function where it compiles; the plain one, with a
single warning, where the compiler fails; the function's own errors and other failures untouched.

The compiler is replaced by stand-ins here (a real compile takes seconds; the dynamics model's
compiled loss is checked for real in tests/modules/test_model_compile.py, marked slow)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch._dynamo

import utils.compiling as compiling
from utils.compiling import CompiledOrEager


def double(x: torch.Tensor) -> torch.Tensor:
    return 2 * x


def compiler_returning(compiled):
    """A stand-in for ``torch.compile`` that returns ``compiled`` and records what it was given."""
    given = []

    def compile(fn, dynamic=None):
        given.append((fn, dynamic))
        return compiled

    return compile, given


def test_calls_the_compiled_function_with_static_shapes(monkeypatch):
    calls = []
    compile, given = compiler_returning(lambda x: calls.append(x) or 3 * x)
    monkeypatch.setattr(compiling.torch, "compile", compile)
    wrapped = CompiledOrEager(double, "doubling")
    assert given == [(double, False)]
    x = torch.ones(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(wrapped(x), 3 * x)  # the compiled one answered
    assert len(calls) == 1


def test_a_compiler_failure_warns_once_and_runs_the_function_uncompiled(monkeypatch):
    attempts = []

    def failing(x):
        attempts.append(x)
        raise torch._dynamo.exc.BackendCompilerFailed(lambda: None, RuntimeError("no C++ compiler found"), None)

    monkeypatch.setattr(compiling.torch, "compile", compiler_returning(failing)[0])
    wrapped = CompiledOrEager(double, "doubling")
    x = torch.arange(3.0)
    with pytest.warns(RuntimeWarning, match=r"torch\.compile of doubling failed \(.*no C\+\+ compiler found.*\); running it uncompiled"):
        assert torch.equal(wrapped(x), 2 * x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        assert torch.equal(wrapped(x), 2 * x)
    assert len(attempts) == 1  # the compiled path is not tried again


def test_the_functions_own_error_is_raised_as_itself(monkeypatch):
    """The compiler's trace of a bad call fails too; the eager call then raises the real error."""
    def bad(x):
        raise ValueError("shapes [2] and [3] do not match")

    def trace_fails(x):
        raise torch._dynamo.exc.TorchRuntimeError("traced: shapes [2] and [3] do not match")

    monkeypatch.setattr(compiling.torch, "compile", compiler_returning(trace_fails)[0])
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="do not match"):
        CompiledOrEager(bad, "a bad function")(torch.ones(2))


@pytest.mark.parametrize("raised", [KeyboardInterrupt(), RuntimeError("out of memory")])
def test_errors_that_are_not_the_compilers_pass_through(monkeypatch, raised):
    """A stop (Ctrl-C) or an error of the compiled kernels while they run is not swallowed."""
    def failing(x):
        raise raised

    monkeypatch.setattr(compiling.torch, "compile", compiler_returning(failing)[0])
    wrapped = CompiledOrEager(double, "doubling")
    with pytest.raises(type(raised)):
        wrapped(torch.ones(1))
    assert wrapped.compiled is not None  # still compiled: nothing fell back
