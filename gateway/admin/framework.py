"""Framework pages: the chooser, models and their destinations, the generator, filters, documentation."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from engine.filters import describe_filters
from gateway.admin.generator import Choice, generate_control_file, generator_rows
from gateway.admin.web import Page, admin_view

# Short descriptions of the data types (spec §6.4) for the documentation page and the models' Type links.
TYPE_DOCS: dict[str, str] = {
    "text": "A string; numbers and booleans are converted with JavaScript rules (the default type).",
    "text-paragraph": "Any present value, stored as its string form.",
    "text-multiline": "Any present value, stored as its string form.",
    "configuration-name": "Any present value, stored as its string form.",
    "isbn": "Any present value, stored as its string form.",
    "email-address": "A string with an @ after its first character.",
    "url": "A string that starts with a scheme such as https: (see the haplo:fix-up-url filter).",
    "telephone-number": "A string, normalised to international format using the instruction's country (default GB).",
    "integer": "A whole number, or a string that is exactly its decimal form.",
    "number": "A JSON number, or a string holding one decimal literal.",
    "boolean": "true/false, or the strings given by trueValue/falseValue.",
    "datetime": "A string parsed with the instruction's dateFormat (SimpleDateFormat letters); stored as ISO-8601 UTC.",
    "date": "Alias of datetime.",
    "json": "Any object or array, stored unchanged.",
    "object-type": "A type code from the model's types list.",
    "ref": "A reference to another record (from a filter or refMapping), stored as its primary key.",
    "person-name": "Built with value:person-name (title, first, middle, last, suffix) and field-structured; needs last.",
    "postal-address": "Built with value:postal-address (street1, street2, city, county, postcode, country) and field-structured; needs a two-letter country.",
}


def models_registry(page: Page) -> Any:
    """The model registry (``gateway.models.ModelRegistry``) of this process."""
    registry = page.gateway.services.get("models")
    if registry is None:
        registry = getattr(page.service("batches"), "models", None)
    if registry is None:
        page.service("models")
    return registry


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
