"""Multi-agent controllers ("macs"): ``REGISTRY[args.mac](scheme, groups, args)``."""

from controllers.basic_controller import BasicMAC
from controllers.lookahead_controller import LookaheadMAC
from controllers.non_shared_controller import NonSharedMAC

REGISTRY = {
    "basic_mac": BasicMAC,
    "non_shared_mac": NonSharedMAC,
    "lookahead_mac": LookaheadMAC,
}
