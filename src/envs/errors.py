"""Errors raised while building environments.

They live in their own module so that callers (``run.py``, tests) can catch them
without importing any environment package.
"""


class EnvArgsError(ValueError):
    """An ``env_args`` value the environment cannot accept (bad key, unknown constructor argument,
    invalid time limit, ...). The message names the value and what would be valid."""


class EnvKeyError(EnvArgsError):
    """An ``env_args.key`` that cannot be turned into an environment.

    Subclasses ``ValueError`` because the key is a bad configuration value; the
    message always names the key and says what was tried, so a user can fix the
    yaml or install the missing package without reading a traceback.
    """
