"""The vendor's words per language in the configuration: product name, category texts."""

import pytest

from app.model.errors import ConfigError
from app.storage.config import parse_config

BASE = '''[product]
name = "Acme"
"name.de" = "Acme-DE"
[[consent.category]]
id = "usage"
title = "Feature usage"
"title.de" = "Funktionsnutzung"
"title.ja" = "機能"
description = "Which features."
"description.de" = "Welche Funktionen."
events = ["feature.*"]
'''


def test_product_name_and_gaps_per_language(tmp_path):
    config = parse_config(tmp_path / "c.toml", BASE)
    assert config.texts.languages() == ["de", "ja"]
    # Japanese was started but the description and the product name were left out.
    assert config.texts.missing() == {"ja": ["product.name", "consent.category[usage].description"]}
    assert config.texts.by_default()["Acme"] == {"de": "Acme-DE"}


@pytest.mark.parametrize("line, problem", [
    ('"title.xx1" = "x"', "not a language code"),
    ('title = { default = "T", de = 3 }', "must be a text"),
])
def test_bad_translations_are_config_errors(tmp_path, line, problem):
    text = '[[consent.category]]\nid = "u"\nevents = ["a.*"]\n' + line + "\n"
    with pytest.raises(ConfigError, match=problem):
        parse_config(tmp_path / "c.toml", text)


def test_embedded_config_speaks_every_shipped_language():
    from app.storage.config import load_config
    from app.support.i18n import SHIPPED

    config = load_config()
    assert set(SHIPPED) <= set(config.texts.languages())
    assert config.texts.missing() == {}


def test_doctor_names_the_texts_a_started_language_lacks(tmp_path):
    from app.doctor.check import Verdict
    from app.doctor.texts import check_vendor_texts

    check = check_vendor_texts(parse_config(tmp_path / "c.toml", BASE))
    assert check.verdict is Verdict.WARN
    assert "ja lacks product.name, consent.category[usage].description" in check.detail
