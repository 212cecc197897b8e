"""Log in and log out of the admin pages with the gateway's users.

A login checks the password through ``Auth.check_password`` (throttled per user
and client address: 429 with ``Retry-After`` and the wait on the form) and starts
a server-side session; logout ends it at once.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.admin.web import Page, admin_view, gateway_of, read_form, session_user, signer
from gateway.auth.login_throttle import LoginThrottled
from gateway.auth.sessions import COOKIE_NAME, Session
from gateway.auth.users import AuthFailure, User
from gateway.process import Gateway


def safe_next(target: str | None) -> str:
    """Where to go after logging in: only admin pages of this site."""
    if target and target.startswith("/admin/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin/"


def _check_password(gateway: Gateway, username: str, password: str, client_ip: str) -> User | str:
    """The user, or the message to show (a throttled login raises LoginThrottled)."""
    try:
        return gateway.auth.check_password(username, password, client_ip)
    except AuthFailure as failure:
        return str(failure)


async def login(request: Request) -> Response:
    """GET: the login form. POST: check the credentials and start a session."""
    gateway = gateway_of(request)
    session = signer(gateway).loads(request.cookies.get(COOKIE_NAME))
    fresh = session is None
    page = Page(request, gateway, session or Session(), session_changed=fresh)
    if request.method == "GET":
        target = safe_next(request.query_params.get("next"))
        if await run_in_threadpool(session_user, gateway, session):
            return page.finish(RedirectResponse(target, status_code=303))
        return page.finish(page.render("login.html", title="Log in", error=None, username="", next=target))
    form = await read_form(request)
    try:
        username = str(form.get("username") or "").strip()
        password = str(form.get("password") or "")
        target = safe_next(str(form.get("next") or ""))
        if fresh or not page.session.csrf_ok(form.get("csrf")):
            page.session = Session()
            page.session_changed = True
            error = "Your login form expired. Please try again."
            return page.finish(
                page.render("login.html", 403, title="Log in", error=error, username=username, next=target)
            )
        client_ip = request.client.host if request.client else ""
        try:
            user = await run_in_threadpool(_check_password, gateway, username, password, client_ip)
        except LoginThrottled as throttled:
            response = page.render(
                "login.html",
                throttled.status,
                title="Log in",
                error=throttled.message,
                username=username,
                next=target,
            )
            response.headers.update(throttled.headers)
            return page.finish(response)
        if isinstance(user, str):
            return page.finish(
                page.render("login.html", 401, title="Log in", error=user, username=username, next=target)
            )
        if not user.is_super_user:
            error = "You are not permitted to perform this action: the admin pages are for super users."
            return page.finish(
                page.render("login.html", 403, title="Log in", error=error, username=username, next=target)
            )
        # A new session (new id, new CSRF token) on every login: no session fixation.
        if page.session.session_id is not None:
            await run_in_threadpool(gateway.auth.end_session, page.session.session_id)
        session_id = await run_in_threadpool(gateway.auth.start_session, user.username)
        page.session = Session(username=user.username, session_id=session_id)
        page.session_changed = True
        return page.finish(RedirectResponse(target, status_code=303))
    finally:
        await form.close()


@admin_view
async def logout(page: Page) -> Response:
    """End the session: its server-side record is deleted, so the old cookie opens nothing."""
    if page.session.session_id is not None:
        await run_in_threadpool(page.gateway.auth.end_session, page.session.session_id)
    page.session = Session()
    page.set_flash("You have logged out.")
    return page.redirect("/admin/login")
