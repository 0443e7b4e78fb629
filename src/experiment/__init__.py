"""The experiment layer: what knows every registry. ``config_checks`` checks a merged config
against the registries' names and the combinations that cannot work; ``run.py`` and ``main.py``
build and run experiments on top of it."""
