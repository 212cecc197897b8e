"""Framework pages: models, destinations and Names, the control-file generator, filters, docs."""

from __future__ import annotations

import html
import json
import re

from engine.control import validate_control
from engine.filters import FILTERS
from gateway.admin.generator import Choice, generate_control_file
from tests.admin.support import PERSON_MODEL, login, register_model


def test_models_and_model_page(client):
    register_model(client)
    login(client)
    listing = client.get("/admin/models").text
    assert "haplo:person (People)" in listing and "Person profile records." in listing
    page = client.get("/admin/model?model=haplo:person").text
    assert "Generate control file…" in page
    assert '{"destination": "profile"}' in html.unescape(page)
    assert "Depends on profile" in page and "Pseudo destination" in page
    for name in ("title", "email", "manager", "load:by-ref", "value:person-name"):
        assert name in page
    assert '<a href="/admin/documentation#type-email-address">email-address</a>' in page
    assert "MV?" in page and "Req?" in page and "✓" in page


def test_generator_form_and_draft(client):
    register_model(client)
    csrf = login(client)
    form = client.get("/admin/generate-control-file?model=haplo:person").text
    rows = re.findall(r'name="include-(\d+)"', form)
    labels = re.findall(r"<td[^>]*><label for=\"include-\d+\"><code>([^<]+)</code>", form)
    index = {name: i for i, name in zip(rows, labels, strict=True)}
    data = {
        "csrf": csrf,
        f"include-{index['title']}": "1",
        f"include-{index['email']}": "1",
        f"multivalue-{index['email']}": "1",
        f"include-{index['url']}": "1",
        f"include-{index['text']}": "1",
    }
    page = client.post("/admin/generate-control-file?model=haplo:person", data=data)
    assert page.status_code == 200
    assert "cannot be used as it is" in page.text
    draft = json.loads(html.unescape(page.text).split('<pre class="json">', 1)[1].split("</pre>", 1)[0])
    actions = [(i.get("action", "field"), i["destination"], i.get("name")) for i in draft["instructions"]]
    assert actions[0] == ("new", "profile", None)
    assert ("remove-values", "profile", "email") in actions
    assert ("field-structured", "profile", "title") in actions
    assert ("field", "note", "text") in actions and ("new", "note", None) not in actions  # dependent
    url = next(i for i in draft["instructions"] if i.get("name") == "url")
    assert url["filters"] == ["haplo:fix-up-url"] and url["source"] == "TODO-URL"
    email = next(i for i in draft["instructions"] if i.get("name") == "email" and "source" in i)
    assert email["multivalue"] is True
    assert validate_control(draft, {"haplo:person"}) == []


def test_generator_never_emits_username_to_ref():
    described = {
        **PERSON_MODEL,
        "destinations": [
            {**d, "names": [{"name": k, **v} for k, v in d["names"].items()]}
            for d in PERSON_MODEL["destinations"]
        ],
    }
    every = [Choice("profile", n) for n in PERSON_MODEL["destinations"][0]["names"]]
    draft = generate_control_file(described, every)
    text = json.dumps(draft)
    assert "username-to-ref" not in text
    born = next(i for i in draft["instructions"] if i.get("name") == "born")
    phone = next(i for i in draft["instructions"] if i.get("name") == "phone")
    manager = next(i for i in draft["instructions"] if i.get("name") == "manager")
    kind = next(i for i in draft["instructions"] if i.get("name") == "type")
    assert born["dateFormat"] == "yyyy-MM-dd" and phone["country"] == "GB"
    assert manager["refMapping"] == "TODO-DEFINE-MAPPING"
    assert kind["mapInputValue"] == {"TODO-V1": "person", "TODO-V2": "staff"}
    parts = [i["name"] for i in draft["instructions"] if i["destination"] == "value:person-name"]
    assert parts == ["title", "first", "middle", "last", "suffix"]


def test_filters_and_documentation(client):
    login(client)
    page = client.get("/admin/filters").text
    for name in FILTERS:
        assert name in page
    assert "haplo:username-to-ref" not in page
    docs = client.get("/admin/documentation").text
    assert 'id="type-datetime"' in docs and "upload-batch" in docs and "/openapi.yaml" in docs
