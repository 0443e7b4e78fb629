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
        "ray": ["ray>=2.9"],  # src/search.py: sweeps on this machine or a Ray cluster
        "wandb": ["wandb>=0.16"],  # use_wandb=True: log runs to Weights & Biases
        # src/plot_results.py --iqm / --improvement: rliable's interquartile mean, stratified-bootstrap
        # intervals and probability of improvement; arch (rliable's bootstrap) breaks on pandas 3.
        "stats": ["rliable>=1.2", "pandas<3"],
        # Google Research Football's Python run-time needs; gfootball itself is built by
        # scripts/install_football.sh (native build with --no-build-isolation, wheel cached) and
        # installed without its own requirements: gym 0.26 breaks gfootball 2.10.2 (reset()
        # unpacking), so gym is pinned to 0.25.2; cv2 comes headless; its `pygame` requirement is
        # left out because mpe2's pygame-ce already provides the module (gfootball only needs it
        # for its keyboard/gamepad players), and a second pygame would overwrite pygame-ce's files.
        "football": ["gym==0.25.2", "six", "psutil", "absl-py", "opencv-python-headless", "scipy"],
    },
)
