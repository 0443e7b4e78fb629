"""Install Lookahead into an EPyMARL checkout, or take it out again (see the README section
"Using Lookahead inside your EPyMARL"):

    python scripts/epymarl_plugin.py install PATH
    python scripts/epymarl_plugin.py uninstall PATH

Runs with any Python 3.10+ (standard library only); the code is in ``lookahead_epymarl/``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: lookahead_epymarl

from lookahead_epymarl.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
