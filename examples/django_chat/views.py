from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def chat(request: HttpRequest) -> HttpResponse:
    # "sent" is written by the WebSocket server (server.py), into this same session.
    return render(
        request,
        "chat.html",
        {"sent": request.session.get("sent", 0), "port": settings.CHAT_WEBSOCKET_PORT},
    )
