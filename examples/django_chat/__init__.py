"""
A Django project whose logged-in users chat by name through ratchetpy: Django
serves the login page and the chat page, ratchetpy the WebSocket, and
L{ratchetpy.auth.DjangoSessionAuth} tells ratchetpy who each browser's user
is from Django's own session cookie. See the tutorial in docs/identity.md.

From the repository root:

    python examples/django_chat/manage.py migrate
    python examples/django_chat/manage.py createsuperuser
    python examples/django_chat/manage.py runserver 127.0.0.1:8000
    python -m examples.django_chat.server

then open http://127.0.0.1:8000/ in two browsers and log in as two users.
"""
