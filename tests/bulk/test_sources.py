"""Unit tests of the streaming JSON source, path confinement and URL vetting (no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway.bulk import paths, urlfetch
from gateway.bulk.jsonsource import JsonFormatError, json_records

DATA = json.dumps([{"id": i, "v": "x" * i, "n": 1234567, "nested": {"a": [i]}} for i in range(60)])


@pytest.mark.parametrize("block", [1, 3, 7, 100, 100_000])
def test_json_records_across_any_block_size(block: int) -> None:
    blocks = iter([DATA[i : i + block] for i in range(0, len(DATA), block)])
    assert list(json_records(blocks)) == json.loads(DATA)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"a":1}', "a JSON file must hold an array of records"),
        ('[{"a":1},]', "invalid JSON: a comma after record 1 ends the array"),
        ("[1]", "JSON record 1 is not an object"),
        ('[{"a":1} {"b":2}]', "invalid JSON after record 1 (character offset 9)"),
        ('[{"a":1}] x', "unexpected data after the JSON array (character offset 10)"),
        ('[{"a":1}', "the JSON array ends without ']' after record 1"),
        ('[{"a":', "invalid JSON in record 1: Expecting value (character offset 6)"),
    ],
)
def test_json_errors(text: str, error: str) -> None:
    with pytest.raises(JsonFormatError) as caught:
        list(json_records(iter([text[i : i + 3] for i in range(0, len(text), 3)])))
    assert str(caught.value) == error


def test_empty_inputs() -> None:
    assert list(json_records(iter(["  [ ] "]))) == []
    assert list(json_records(iter([""]))) == []


def test_confinement(tmp_path: Path) -> None:
    allowed = tmp_path / "import"
    (allowed / "sub").mkdir(parents=True)
    (allowed / "sub" / "ok.csv").write_text("id\n")
    (tmp_path / "secret.csv").write_text("id\n")
    os.symlink(tmp_path / "secret.csv", allowed / "escape.csv")
    os.symlink(allowed / "sub", allowed / "inner")
    assert paths.import_file(str(allowed / "inner" / "ok.csv"), [allowed]) == allowed / "sub" / "ok.csv"
    for bad in [str(allowed / "escape.csv"), f"{allowed}/sub/../../secret.csv", str(tmp_path / "secret.csv")]:
        with pytest.raises(paths.PathRefused, match="outside the allowed import directories"):
            paths.import_file(bad, [allowed])
    with pytest.raises(paths.PathRefused, match="No such file or directory"):
        paths.import_file(str(allowed / "none.csv"), [allowed])
    with pytest.raises(paths.PathRefused, match="is not a regular file"):
        paths.import_file(str(allowed / "sub"), [allowed])
    assert (
        paths.safe_filename("export-1") and not paths.safe_filename("../x") and not paths.safe_filename("a/b")
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.csv",
        "http://10.1.2.3/x.csv",
        "http://172.16.0.1/x.csv",
        "http://192.168.0.1/x.csv",
        "http://169.254.169.254/latest",
        "http://100.64.0.1/x.csv",
        "http://0.0.0.0/x.csv",
        "http://[::1]/x.csv",
        "http://[fe80::1]/x.csv",
        "http://[::ffff:10.0.0.1]/x.csv",
        "http://224.0.0.1/x.csv",
    ],
)
def test_non_global_addresses_are_refused(url: str) -> None:
    with pytest.raises(urlfetch.UrlRefused, match="private, loopback or link-local"):
        urlfetch.check_url(url, allow_private=False)


def test_allowed_urls_keep_host_port_target_and_credentials() -> None:
    checked = urlfetch.check_url("https://user:p%40ss@127.0.0.1:8443/a/b.csv?x=1", allow_private=True)
    assert (checked.host, checked.port, checked.target, checked.addresses) == (
        "127.0.0.1",
        8443,
        "/a/b.csv?x=1",
        ("127.0.0.1",),
    )
    assert checked.authorization == "Basic dXNlcjpwQHNz"
    assert urlfetch.check_url("http://8.8.8.8/x.csv", allow_private=False).addresses == ("8.8.8.8",)
