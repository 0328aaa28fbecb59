"""License Companion: the license key in the OS keyring, and only the telemetry the user agreed to.

This module is the one place that names the product; ``build.spec``, ``--version`` and the
installers read it.
"""

NAME = "License Companion"
APP_ID = "license-companion"
ORGANIZATION = "License Companion"
__version__ = "0.1.0"
