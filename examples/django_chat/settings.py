"""
The Django settings of the example: sqlite, sessions in the database, the
login page of django.contrib.auth. ratchetpy's server reads the same settings
(DJANGO_SETTINGS_MODULE=examples.django_chat.settings), so it reads the
sessions Django wrote.
"""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

# An example's key: a real site reads its own from the environment or a file.
SECRET_KEY = os.environ.get("DJANGO_CHAT_SECRET_KEY", "django-chat-example-not-a-secret-change-me-0123456789")
DEBUG = os.environ.get("DJANGO_CHAT_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "examples.django_chat.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_CHAT_DB", HERE / "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

#: Where the chat page connects to: ratchetpy's server (examples/django_chat/server.py).
CHAT_WEBSOCKET_PORT = int(os.environ.get("DJANGO_CHAT_WS_PORT", "8080"))
