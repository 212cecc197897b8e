"""Routes of 'batch_api' (to be filled in)."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
