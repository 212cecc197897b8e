"""Routes of 'admin_routes' (to be filled in)."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
