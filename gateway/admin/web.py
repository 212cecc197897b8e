"""The admin pages' request plumbing: templates, the session, login and CSRF checks.

Every admin view is an ``async def view(page: Page) -> Response`` wrapped by
:func:`admin_view`, which loads the signed cookie and the server-side session it
names, requires a logged-in super user (anyone else is sent to the login form or
refused), parses POST forms once and checks their CSRF token, and adds the security
headers to the answer. A full device is a 507 "Insufficient storage" page naming the
store; an upload whose declared size does not fit is refused so before its body is read.
A store that cannot be reached (PostgreSQL, the S3 bucket of the files) is a 503 page naming it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.admin.batch_list import batch_status
from gateway.auth.sessions import COOKIE_NAME, COOKIE_PATH, SESSION_MAX_AGE, Session, SessionSigner
from gateway.auth.users import User
from gateway.process import Gateway
from gateway.storage.errors import OutOfSpace, StoreUnavailable

MAX_FORM_FILES = 100
MAX_FORM_FIELDS = 1000

View = Callable[["Page"], Awaitable[Response]]


def _short(value: Any, length: int = 10) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= length else text[:length] + "…"


def _when(value: Any) -> str:
    """A stored time (epoch seconds or milliseconds, or ISO text) as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if value is None or value == "":
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _filesize(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    size = float(value)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(value)


TEMPLATES = Environment(
    loader=PackageLoader("gateway.admin", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(
    short=_short, when=_when, filesize=_filesize, urlquote=lambda v: quote(str(v), safe="")
)
TEMPLATES.globals.update(batch_status=batch_status)


def signer(gateway: Gateway) -> SessionSigner:
    """The process's session signer (its secret is the store's, ``system.hdb_secret``)."""
    return gateway.auth.sessions


@dataclass
class Page:
    """One admin request: who asks, their session, the parsed form of a POST."""

    request: Request
    gateway: Gateway
    session: Session
    user: User | None = None
    form: FormData | None = None
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    session_changed: bool = False

    def field(self, name: str) -> str:
        """A text field of the posted form, stripped ('' when absent)."""
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else ""

    def set_flash(self, message: str) -> None:
        """A notice to show once on the next page."""
        self.session.flash = message
        self.session_changed = True

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        """Render a template with the layout's variables."""
        flash = self.session.flash
        if flash is not None:
            self.session.flash = None
            self.session_changed = True
        body = TEMPLATES.get_template(template).render(
            user=self.user,
            csrf=self.session.csrf,
            nonce=self.nonce,
            flash=flash,
            path=self.request.url.path,
            **context,
        )
        return HTMLResponse(body, status_code=status)

    def message(self, title: str, text: str, status: int = 200, back: str | None = None) -> Response:
        """A plain page with a heading and one paragraph (errors, stops)."""
        return self.render("message.html", status=status, title=title, text=text, back=back)

    def redirect(self, url: str) -> Response:
        """303 See Other to another admin page."""
        return RedirectResponse(url, status_code=303)

    def finish(self, response: Response) -> Response:
        """Add the session cookie (when it changed) and the security headers."""
        if self.session_changed:
            set_session_cookie(self.request, response, signer(self.gateway).dumps(self.session))
        secure_headers(response, self.nonce)
        return response


def secure_headers(response: Response, nonce: str) -> None:
    """Content-Security-Policy (scripts only with this page's nonce), no caching, no framing."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'nonce-"
        + nonce
        + "'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cache-Control", "no-store")


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=SESSION_MAX_AGE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def session_user(gateway: Gateway, session: Session | None) -> User | None:
    """The active user of the live server-side session this cookie names (None after logout)."""
    if session is None or session.username is None or session.session_id is None:
        return None
    user = gateway.auth.session_user(session.session_id)
    return user if user is not None and user.username == session.username else None


def gateway_of(request: Request) -> Gateway:
    gateway = request.app.state.gateway
    assert isinstance(gateway, Gateway)
    return gateway


async def read_form(request: Request) -> FormData:
    """The POSTed form (urlencoded or multipart; uploads spool to temporary files)."""
    return await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)


def _declared_length(request: Request) -> int:
    """The body's declared ``Content-Length`` (0 when absent or unreadable)."""
    try:
        return max(0, int(request.headers.get("content-length", "0")))
    except ValueError:
        return 0


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/admin/login?next=" + quote(target, safe="")


def admin_view(view: View) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a view: logged-in super users only; POSTs need the session's CSRF token."""

    async def endpoint(request: Request) -> Response:
        gateway = gateway_of(request)
        session = signer(gateway).loads(request.cookies.get(COOKIE_NAME))
        user = await run_in_threadpool(session_user, gateway, session)
        if session is None or user is None:
            if request.method == "GET":
                return RedirectResponse(login_url(request), status_code=303)
            page = Page(request, gateway, session or Session(), session_changed=session is None)
            return page.finish(
                page.message("Please log in", "Your session has ended. Log in again.", 401, "/admin/login")
            )
        page = Page(request, gateway, session, user)
        if not user.is_super_user:
            return page.finish(
                page.message("Not permitted", "You are not permitted to perform this action.", 403)
            )
        try:
            if request.method == "POST":
                if request.headers.get("content-type", "").startswith("multipart/form-data"):
                    gateway.imports.blobs.check_room(_declared_length(request))
                page.form = await read_form(request)
                if not session.csrf_ok(page.form.get("csrf")):
                    return page.finish(
                        page.message(
                            "Form expired",
                            "This form has expired or did not come from this site. Go back, reload the page and try again.",
                            403,
                        )
                    )
            response = await view(page)
        except OutOfSpace as full:  # 507 Insufficient Storage: nothing of the request was kept
            response = page.message(
                "Insufficient storage", f"Nothing was saved: {full}. Free some space and try again.", 507
            )
        except StoreUnavailable as down:  # a store's server cannot be reached: nothing was saved
            response = page.message("Service unavailable", f"{down}. Try again later.", 503)
        finally:
            if page.form is not None:
                await page.form.close()
        return page.finish(response)

    endpoint.__name__ = view.__name__
    endpoint.__doc__ = view.__doc__
    return endpoint
