"""The page's own words: ``.chainlit/translations/en-US.json``, Chainlit's file with ours.

Chainlit copies its translations into ``.chainlit/translations/`` only where a file is
missing, so ours stays; a Chainlit upgrade that adds words shows up here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chainlit

from fakes.ui_server import ROOT

OURS = ROOT / ".chainlit" / "translations" / "en-US.json"
CHAINLIT = Path(chainlit.__file__).parent / "translations" / "en-US.json"


def keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in tree.items():
        path = f"{prefix}{key}"
        found |= keys(value, f"{path}.") if isinstance(value, dict) else {path}
    return found


def test_every_word_chainlit_needs_is_there() -> None:
    ours = json.loads(OURS.read_text(encoding="utf-8"))
    assert keys(json.loads(CHAINLIT.read_text(encoding="utf-8"))) <= keys(ours)


def test_sign_in_asks_for_a_user_name_and_says_why_it_failed() -> None:
    login = json.loads(OURS.read_text(encoding="utf-8"))["auth"]["login"]
    assert login["form"]["email"]["label"] == "User name"
    assert "@" not in login["form"]["email"]["placeholder"]
    # the form looks its message up by the failed request's status text, lower-cased
    assert login["errors"]["unauthorized"] == "Wrong user name or password."
    assert login["errors"]["too many requests"].startswith("Too many failed sign-ins")


def test_steps_carry_their_own_names() -> None:
    status = json.loads(OURS.read_text(encoding="utf-8"))["chat"]["messages"]["status"]
    assert status == {"using": "", "used": ""}  # no "Used Research", "Using Plan"
