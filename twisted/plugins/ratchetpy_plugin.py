"""
The twistd plugin: C{twistd -n ratchetpy --component examples.chat:Chat}.

Kept import-light: Twisted imports every plugin module when it lists plugins.
"""

from twisted.application.service import ServiceMaker

ratchetpy = ServiceMaker(
    "ratchetpy",
    "ratchetpy.tap",
    "Serve a ratchetpy component over WebSocket (or raw TCP with --raw)",
    "ratchetpy",
)
