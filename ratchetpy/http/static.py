# -*- test-case-name: tests.http.test_static -*-
"""
L{StaticFiles}: serves the files of one directory over HTTP, beside the
WebSockets of the same port.
"""

from __future__ import annotations

import mimetypes
from email.utils import formatdate, parsedate_to_datetime
from os import PathLike
from pathlib import Path
from urllib.parse import unquote

from ..interfaces import IHttpRequest
from .handler import HttpHandler
from .response import Response

#: Files up to this size are read at once; larger ones are streamed.
_READ_AT_ONCE = 64 * 1024

_TEXT_TYPES = ("application/javascript", "application/json", "application/xml", "image/svg+xml")


def contentTypeOf(path: Path) -> str:
    """
    The C{Content-Type} for a file, by its extension; text types say UTF-8.
    """
    kind, _ = mimetypes.guess_type(path.name)
    if kind is None:
        return "application/octet-stream"
    if kind.startswith("text/") or kind in _TEXT_TYPES:
        return f"{kind}; charset=utf-8"
    return kind


class StaticFiles(HttpHandler):
    """
    Answers C{GET} and C{HEAD} requests with the files under C{directory}.

    The request path is mapped below C{directory}; a path naming a directory
    serves its C{index} file (and C{/docs} is redirected to C{/docs/}).
    Refused with 404, whatever is on disk: paths that leave the directory
    (C{..}, or a symbolic link pointing outside it), hidden files and
    directories (a segment starting with C{.}, such as C{.git}), and paths
    with NUL bytes. Other methods get 405. Responses carry C{Last-Modified}
    and honour C{If-Modified-Since} (304).

    Behind a L{ratchetpy.Router} route whose pattern ends in C{{path:path}},
    that part of the path is what is served, so C{"/static/{path:path}"}
    maps C{/static/app.js} to C{directory/app.js}.
    """

    def __init__(self, directory: str | PathLike[str], *, index: str = "index.html") -> None:
        self.directory = Path(directory).resolve()
        if not self.directory.is_dir():
            raise ValueError(f"StaticFiles: {directory} is not a directory")
        self.index = index

    def onRequest(self, request: IHttpRequest) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, "405 Method Not Allowed: use GET or HEAD\n", headers=[("Allow", "GET, HEAD")])
        routeParams = getattr(request, "routeParams", None) or {}
        # A Router has already percent-decoded its parameters; decoding them
        # again would turn a file named "100%41" into "100A".
        if "path" in routeParams:
            path = routeParams["path"]
        else:
            path = unquote(request.path, errors="replace")
        found = self._find(path)
        if found is None:
            return Response(404, "404 Not Found\n")
        if found.is_dir():
            if not path.endswith("/") and path:
                # One leading slash: "//name/" would send a browser to host "name".
                location = "/" + request.path.lstrip("/") + "/" + (f"?{request.query}" if request.query else "")
                return Response(301, "", headers=[("Location", location)])
            found = found / self.index
            if not found.is_file():
                return Response(404, "404 Not Found\n")
        return self._fileResponse(found, request)

    def _find(self, decoded: str) -> Path | None:
        if "\x00" in decoded:
            return None
        segments = [segment for segment in decoded.split("/") if segment]
        if any(segment.startswith(".") for segment in segments):
            return None
        try:
            candidate = self.directory.joinpath(*segments).resolve()
            if not candidate.is_relative_to(self.directory) or not candidate.exists():
                return None
        except OSError:
            # A name too long for the file system, a symlink loop: not found.
            return None
        return candidate

    def _fileResponse(self, path: Path, request: IHttpRequest) -> Response:
        stat = path.stat()
        lastModified = formatdate(stat.st_mtime, usegmt=True)
        headers = [
            ("Last-Modified", lastModified),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if self._notModifiedSince(request, stat.st_mtime):
            return Response(304, b"", contentType=None, headers=headers)
        contentType = contentTypeOf(path)
        if stat.st_size <= _READ_AT_ONCE:
            return Response(200, path.read_bytes(), contentType=contentType, headers=headers)
        return Response(200, path.open("rb"), contentType=contentType, headers=headers, length=stat.st_size)

    @staticmethod
    def _notModifiedSince(request: IHttpRequest, mtime: float) -> bool:
        since = request.headers.get("if-modified-since")
        if not since:
            return False
        try:
            return int(mtime) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
