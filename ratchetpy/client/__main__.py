"""
C{python -m ratchetpy.client URL}: see L{ratchetpy.client.cli}.
"""

from .cli import main

main()
