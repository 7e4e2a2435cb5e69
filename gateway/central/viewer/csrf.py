"""CSRF: every POST carries a token bound to the session (or, before login, to a cookie).

SameSite=Strict already keeps the session cookie off cross-site requests; the token is
the second lock, and the Origin check a third for browsers that send it.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

FIELD = "csrf"
PRE_LOGIN_COOKIE = "gw_prelogin"


def same_origin(request: Request) -> bool:
    """False only when the browser names a different origin than the one it is talking to."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def check(request: Request, expected: str | None, given: object) -> None:
    """Raise 403 unless ``given`` equals ``expected`` and the origin is ours."""
    if not same_origin(request):
        raise HTTPException(403, "cross-origin request refused")
    if not expected or not isinstance(given, str) or not given:
        raise HTTPException(403, "missing CSRF token")
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise HTTPException(403, "bad CSRF token")
