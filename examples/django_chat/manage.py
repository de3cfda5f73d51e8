#!/usr/bin/env python
"""
Django's command line for the example, from anywhere:
python examples/django_chat/manage.py migrate | createsuperuser | runserver.
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # The repository root, so that the settings module examples.django_chat.settings is found.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_chat.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
