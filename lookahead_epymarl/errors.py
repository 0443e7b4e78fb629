"""The one error the installer reports: a sentence for the user, printed as one line."""


class PluginError(Exception):
    """The checkout at PATH cannot take (or give back) the plugin; the message says why and what to do."""
