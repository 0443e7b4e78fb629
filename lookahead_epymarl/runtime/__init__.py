"""The adapter between EPyMARL's run loop and the Lookahead core, installed into an EPyMARL
checkout as ``lookahead_plugin.epymarl`` (imports renamed like the core's, see ``vendoring``).

``registry`` (the entries EPyMARL's registries get), ``settings`` (the core's args from EPyMARL's),
``batch`` (EPyMARL's episode batches in the core's conventions), ``controller`` and ``learner``
(EPyMARL's controller and learner interfaces over the core's).
"""
