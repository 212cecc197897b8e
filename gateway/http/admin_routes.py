"""The admin pages under ``/admin/`` (see ``gateway.admin``)."""

from starlette.routing import BaseRoute, Mount

from gateway.admin.routes import routes as admin_pages

routes: list[BaseRoute] = [Mount("/admin", routes=admin_pages)]
