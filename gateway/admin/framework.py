"""Framework pages: the chooser, models and their destinations, the generator, filters, documentation."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from engine.datatypes import describe_data_types
from engine.filters import describe_filters
from gateway.admin.generator import Choice, generate_control_file, generator_rows
from gateway.admin.web import Page, admin_view
from gateway.imports.models import ModelRegistry

# Short descriptions of the data types (spec §6.4) for the documentation page and the models' Type links,
# from the engine's data type registry.
TYPE_DOCS: dict[str, str] = describe_data_types()


def models_registry(page: Page) -> ModelRegistry:
    """The model registry of this process."""
    return page.gateway.imports.models


def described_models(page: Page) -> list[dict[str, Any]]:
    """Every registered model's description, by name."""
    models = models_registry(page).all()
    return [models[name].describe() for name in sorted(models)]


def described_model(page: Page, name: str) -> dict[str, Any] | None:
    model = models_registry(page).get(name) if name else None
    return model.describe() if model is not None else None


def _display_order(model: dict[str, Any]) -> list[dict[str, Any]]:
    """Stored destinations first (model order), then pseudo destinations by name."""
    dests = model.get("destinations", [])
    return [d for d in dests if not d.get("pseudo")] + sorted(
        (d for d in dests if d.get("pseudo")), key=lambda d: d["name"]
    )


@admin_view
async def home(page: Page) -> Response:
    """The data import chooser."""
    return page.render("home.html", title="Data import")


@admin_view
async def models(page: Page) -> Response:
    """One entry per registered model."""
    return page.render("models.html", title="Models", models=described_models(page))


@admin_view
async def model(page: Page) -> Response:
    """A model's destinations and Names."""
    name = page.request.query_params.get("model", "")
    described = described_model(page, name)
    if described is None:
        return page.message("Model not found", f"No model is registered as '{name}'.", 404, "/admin/models")
    return page.render(
        "model.html",
        title=f"Model {described['name']}",
        model=described,
        destinations=_display_order(described),
        type_docs=TYPE_DOCS,
    )


@admin_view
async def generate(page: Page) -> Response:
    """GET: choose Names. POST: show the draft control file."""
    name = page.request.query_params.get("model", "")
    described = described_model(page, name)
    if described is None:
        return page.message("Model not found", f"No model is registered as '{name}'.", 404, "/admin/models")
    rows = generator_rows(described)
    if page.form is None:
        return page.render("generate.html", title="Generate control file", model=described, rows=rows)
    choices = [
        Choice(row["destination"], row["name"], page.field(f"multivalue-{i}") == "1")
        for i, row in enumerate(rows)
        if page.field(f"include-{i}") == "1"
    ]
    draft = generate_control_file(described, choices)
    return page.render(
        "generated.html",
        title="Draft control file",
        model=described,
        draft=json.dumps(draft, indent=2),
        chosen=len(choices),
    )


@admin_view
async def filters(page: Page) -> Response:
    """Every registered value filter with its description."""
    return page.render("filters.html", title="Value filters", filters=describe_filters())


@admin_view
async def documentation(page: Page) -> Response:
    """Links to the import documentation, the data types and the batch API."""
    return page.render("documentation.html", title="Documentation", type_docs=TYPE_DOCS)
