"""Lookahead inside an existing EPyMARL checkout (https://github.com/uoe-agents/epymarl).

``python scripts/epymarl_plugin.py install PATH`` copies this project's core (``src/``) into ONE
subpackage of the checkout, ``src/lookahead_plugin/``, with its imports renamed (``components.x``
-> ``lookahead_plugin.components.x``, so nothing collides with EPyMARL's own packages of the same
names), adds the adapter (``runtime/``, installed as ``lookahead_plugin.epymarl``), writes three
algorithm configs into ``src/config/algs/`` and appends one marked block to each of EPyMARL's
``learners/__init__.py`` and ``controllers/__init__.py``. ``uninstall PATH`` restores those two files
byte for byte from the backups kept in ``PATH/.lookahead_plugin/`` and removes everything added.

Modules: ``checkout`` (is PATH an EPyMARL checkout, and are its registry files of the expected
shape), ``vendoring`` (the copied files and their import renaming), ``configs`` (the yaml files),
``registry_blocks`` (the appended blocks), ``manifest`` (what was installed, for uninstall),
``installer`` (install / uninstall), ``cli`` (the command line). The stdlib is all they need.
"""
