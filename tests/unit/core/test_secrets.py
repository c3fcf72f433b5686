"""The run's secrets, redacted in every form they take on their way out."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

import pytest

from ci.core import secrets
from ci.core.secrets import MASK, redact, register

TOKEN = 'ab\\c"d/e+f g&h<i>é'  # a backslash, a quote, URL- and HTML-special characters, non-ASCII


@pytest.mark.parametrize(
    "form",
    [
        TOKEN,
        json.dumps(TOKEN)[1:-1],
        json.dumps(TOKEN, ensure_ascii=False)[1:-1],
        repr(TOKEN)[1:-1],
        quote(TOKEN, safe=""),
        quote(TOKEN),
        quote_plus(TOKEN),
        html.escape(TOKEN),
    ],
    ids=["given", "json", "json-utf8", "repr", "url", "url-path", "url-plus", "html"],
)
def test_a_secret_is_redacted_in_each_form_it_leaves_in(form: str) -> None:
    register(TOKEN)
    assert redact(f"before {form} after") == f"before {MASK} after"


def test_a_json_document_and_a_repr_holding_the_secret_show_none_of_it() -> None:
    register(TOKEN)
    assert "ab" not in redact(json.dumps({"headers": {"X-Token": TOKEN}}))
    assert "ab" not in redact(repr({"X-Token": TOKEN}))


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "token", "Token"])
def test_an_authorization_values_bare_credential_is_redacted_too(scheme: str) -> None:
    register(f"{scheme} eyJhbGciOi.payload.sig")
    page = "<h1>401</h1><p>credential eyJhbGciOi.payload.sig is expired</p>"
    assert redact(page) == f"<h1>401</h1><p>credential {MASK} is expired</p>"
    assert redact(f"Authorization: {scheme} eyJhbGciOi.payload.sig") == f"Authorization: {MASK}"


def test_a_basic_credential_is_redacted_encoded_and_decoded_and_its_password_alone() -> None:
    encoded = base64.b64encode(b"deploy:hunter2-pass").decode()
    register(f"Basic {encoded}")
    assert redact(f"sent {encoded}") == f"sent {MASK}"
    assert redact("login deploy:hunter2-pass") == f"login {MASK}"
    assert redact("password hunter2-pass rejected") == f"password {MASK} rejected"
    assert redact("user deploy") == "user deploy"  # a user name is no secret


def test_the_longest_form_goes_first_so_nothing_of_a_longer_one_is_left() -> None:
    register("Bearer abcdefgh", "abcd")
    assert redact("Bearer abcdefgh and abcd") == f"{MASK} and {MASK}"


def test_a_very_short_secret_is_redacted_only_where_it_stands_alone() -> None:
    register("x7")
    assert redact("password=x7;") == f"password={MASK};"
    assert redact('"x7"') == f'"{MASK}"'
    assert redact("x7") == MASK
    assert redact("ex7ra 1x72 x7x") == "ex7ra 1x72 x7x"  # inside a word or number: left alone


def test_blank_values_and_an_empty_registry_change_nothing() -> None:
    assert redact("anything \x1b") == "anything \x1b"
    register("", "  ")
    assert redact("a b  c") == "a b  c"


def test_forget_drops_every_secret() -> None:
    register("long-enough-secret")
    secrets.forget()
    assert redact("long-enough-secret") == "long-enough-secret"
