"""
The chat with names, on Flask's sessions: a Flask application logs users in
(C{app.py}), and the ratchetpy server (C{server.py}) recognises them by
Flask's session cookie; see C{docs/identity.md}.
"""
