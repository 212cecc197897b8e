"""Throttling of failed password attempts (Basic auth, tokens, the admin login).

The rule, so that a correct password is never locked out by another client:

* **Lock-out per (user, client address).** After ``max_failures`` wrong
  passwords for one user from one address within ``window`` seconds, that pair
  is refused (429, ``Retry-After``) until the oldest of those failures is
  ``window`` seconds old. While locked, the password is not even checked, so
  the right password is refused too: otherwise the lock would not stop guessing.
  The same user from any other address is not affected; a success clears the
  pair's count.
* **Per user across addresses, a tighter budget only.** When one user has had
  ``user_max_failures`` wrong passwords from all addresses together within the
  window (guessing spread over many addresses), each address gets one wrong
  password for that user per window instead of ``max_failures``. An address
  that has not failed for that user is still let in with the right password.

``max_failures`` 0 turns the throttle off; ``user_max_failures`` 0 turns the
per-user budget off. Counts live in this process's memory (bounded, see
:mod:`gateway.auth.throttle`), keyed by a digest of the user name, which comes
from the client and may be of any length.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from gateway.auth.throttle import FailureCounter
from gateway.errors import OperationError

TOO_MANY = 429


def too_many_message(seconds: int) -> str:
    """The one message of a throttled login: how long to wait."""
    unit = "second" if seconds == 1 else "seconds"
    return f"Too many failed login attempts; try again in {seconds} {unit}"


def _user_key(username: str) -> bytes:
    """A fixed-size stand-in for a user name of any length."""
    return hashlib.sha256(username.encode("utf-8", "surrogatepass")).digest()


class LoginThrottled(OperationError):
    """429 Too Many Requests with ``Retry-After``: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(too_many_message(retry_after), TOO_MANY)
        self.retry_after = retry_after
        self.headers["Retry-After"] = str(retry_after)


class PasswordThrottle:
    """Counts wrong passwords per (user, address) and per user; refuses locked pairs."""

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 300.0,
        user_max_failures: int = 50,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max(0, int(max_failures))
        self.user_max_failures = max(0, int(user_max_failures))
        self._pairs = FailureCounter(window, max(1, self.max_failures), clock)
        self._users = FailureCounter(window, max(1, self.user_max_failures), clock)

    def _limit(self, user: bytes) -> int:
        """The pair's budget: ``max_failures``, or 1 while the user is under a spread attack."""
        if self.user_max_failures and self._users.count(user) >= self.user_max_failures:
            return min(1, self.max_failures)
        return self.max_failures

    def check(self, username: str, address: str) -> None:
        """Raise :class:`LoginThrottled` if this user may not try a password from this address now."""
        if not self._pairs:  # no pair has a failure kept: none is locked (the common case, without hashing)
            return
        user = _user_key(username)
        wait = self._pairs.wait((user, address), self._limit(user))
        if wait:
            raise LoginThrottled(wait)

    def failed(self, username: str, address: str) -> None:
        """Count one wrong password."""
        if self.max_failures:
            user = _user_key(username)
            self._pairs.add((user, address))
            self._users.add(user)

    def succeeded(self, username: str, address: str) -> None:
        """The right password: the pair starts again from zero (the per-user count stays)."""
        if self._pairs:
            self._pairs.clear((_user_key(username), address))
