"""The plugin's names in EPyMARL's registries and the core's parts behind them. Imports nothing, so
the installer, the registry entries and the adapters all read one table without importing each other."""

CORE_LEARNERS = {"lookahead_learner": "lookahead_learner", "happo_learner": "happo_learner"}
"""EPyMARL learner name -> the core learner behind it."""
CORE_MACS = {"lookahead_mac": "lookahead_mac", "happo_mac": "non_shared_mac"}
"""EPyMARL controller name -> the core controller behind it (HAPPO needs per-agent parameters)."""
