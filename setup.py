"""Lookahead: cooperative multi-agent RL research code with an EPyMARL-compatible core."""

from setuptools import setup

setup(
    name="lookahead-marl",
    version="0.1.0",
    description="EPyMARL-compatible MARL core (MAPPO, IPPO; HAPPO and Lookahead to come)",
    python_requires=">=3.10",
    # Like EPyMARL, the code runs from the checkout (`python src/main.py`, which puts src/ on the
    # path); installing registers no top-level modules, so names such as `envs` or `utils` can
    # never shadow another package's.
    packages=[],
    install_requires=[
        "torch>=2.1",
        "numpy",
        "gymnasium>=1.0",
        "sacred",
        "pyyaml",
        "tensorboard",
        "setuptools<82",  # sacred imports pkg_resources, removed in setuptools 82
        "gymnasium-robotics",  # Multi-Agent MuJoCo
        "lbforaging",
        "rware",
        "mpe2",
    ],
    extras_require={
        "dev": ["pytest", "pytest-timeout", "matplotlib"],  # matplotlib: benchmark plots
    },
)
