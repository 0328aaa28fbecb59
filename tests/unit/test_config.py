"""The vendor configuration: typos, bad URLs and files that are not files are refused at load."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from app.model.errors import ConfigError
from app.storage.config import (
    KNOWN_KEYS,
    MAX_CONFIG_BYTES,
    load_config,
    parse_config,
    read_regular_file,
)
from app.storage.resources import resource

SOURCE = Path("/vendor/companion.toml")


def parse(text: str):
    return parse_config(SOURCE, text)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse(text)
    return str(err.value)


def test_the_shipped_config_uses_only_known_keys():
    config = load_config(resource("companion.toml"))
    assert config.telemetrydeck.url.startswith("https://")


@pytest.mark.parametrize(("text", "key", "suggestion"), [
    ('[keymanager]\napikey = "x"\n', "[keymanager] apikey", "api_key"),
    ('[telemetrydeck]\napp_di = "x"\n', "[telemetrydeck] app_di", "app_id"),
    ('[telemetrydek]\napp_id = "x"\n', "[telemetrydek]", "telemetrydeck"),
    ('[product]\nversoin = "1"\n', "[product] versoin", "version"),
    ('[history]\nmax_row = 200\n', "[history] max_row", "max_rows"),
    ('[[consent.category]]\nid = "a"\nevent = ["a.*"]\n', "[consent.category[0]] event", "events"),
])
def test_unknown_keys_and_tables_name_the_closest_known_one(text, key, suggestion):
    message = error_of(text)
    assert key in message
    assert f"did you mean `{suggestion}`?" in message


def test_an_unknown_key_without_a_close_match_lists_the_known_ones():
    message = error_of('[outbox]\nzzzz = 1\n')
    assert "[outbox] zzzz" in message and "known: cap" in message


def test_a_top_level_key_outside_any_table_is_refused():
    assert "[api_key]" in error_of('api_key = "x"\n')


def test_the_known_keys_table_is_what_the_reader_accepts():
    lines = []
    for table, keys in KNOWN_KEYS.items():
        if "." in table:
            continue
        lines.append(f"[{table}]")
        lines += [f"{key} = {VALID[(table, key)]}" for key in sorted(keys)
                  if (table, key) in VALID]
    parse("\n".join(lines) + '\n[[consent.category]]\nid = "a"\ntitle = "A"\n'
          'description = "d"\nevents = ["a.*"]\n')


VALID = {
    ("product", "name"): '"P"', ("product", "id"): '"1"', ("product", "version"): '"1"',
    ("keymanager", "enabled"): "true", ("keymanager", "url"): '"https://k.example.com"',
    ("keymanager", "api_key"): '"k"', ("keymanager", "timeout"): "5",
    ("telemetrydeck", "enabled"): "true", ("telemetrydeck", "url"): '"https://t.example.com/v2/"',
    ("telemetrydeck", "app_id"): '"A"', ("telemetrydeck", "salt"): '"s"',
    ("telemetrydeck", "test_mode"): "false", ("telemetrydeck", "timeout"): "5",
    ("consent", "version"): "2", ("outbox", "cap"): "100", ("history", "days"): "9",
    ("history", "max_rows"): "1000",
}


@pytest.mark.parametrize(("url", "problem"), [
    ("https://nom.telemetrydeck.com:99999/v2/", "not a valid URL"),
    ("https://nom.telemetrydeck.com:http/v2/", "not a valid URL"),
    ("https://nom.telemetrydeck.com:0/v2/", "port 0"),
    ("ftp://nom.telemetrydeck.com/v2/", "must start with https://"),
    ("nom.telemetrydeck.com/v2/", "must start with https://"),
    ("https:///v2/", "no host"),
    ("https://user:pw@nom.telemetrydeck.com/v2/", "user name or password"),
    ("https://nom telemetrydeck.com/v2/", "spaces or control"),
    ("https://nom.telemetrydeck.com/v2/\x1b", "spaces or control"),
    ("https://-bad-.example.com/", "not a valid host"),
    ("https://nom.telemetrydeck.com/v2/?app=1", "query"),
    ("https://nom.telemetrydeck.com/v2/#top", "fragment"),
    ("https://a..b.example.com/", "not a valid host"),
    ("http://example.com/v2/", "plain http is allowed only"),
    ("http://10.0.0.1/v2/", "plain http is allowed only"),
])
def test_urls_are_fully_validated_at_load(url, problem):
    toml_url = url.replace("\x1b", "\\u001b")  # TOML has no raw ESC in a string
    message = error_of(f'[telemetrydeck]\nurl = "{toml_url}"\n')
    assert "[telemetrydeck] url" in message
    assert problem in message


@pytest.mark.parametrize("url", [
    "https://nom.telemetrydeck.com/v2/", "https://nom.telemetrydeck.com:8443/v2/",
    "http://127.0.0.1:8080/v2/", "http://localhost:1/v2/", "http://[::1]:65535/v2/",
    "https://[2001:db8::1]/v2/", "https://bücher.example/v2/", "https://203.0.113.9/v2/",
])
def test_good_urls_are_accepted(url):
    assert parse(f'[telemetrydeck]\nurl = "{url}"\n').telemetrydeck.url == url


def test_a_keymanager_url_with_a_bad_port_is_refused_too():
    message = error_of('[product]\nid = "1"\n[keymanager]\nurl = "https://k.example.com:70000"\n')
    assert "[keymanager] url" in message


# --- files that are not regular files -------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX (Windows has none)")
def test_read_regular_file_refuses_a_fifo_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="FIFO"):
        read_regular_file(fifo, 100)  # a blocking open would hang here (no writer)


@pytest.mark.skipif(sys.platform == "win32",
                    reason="POSIX devices (/dev/zero); Windows cannot open a folder as a file")
def test_read_regular_file_refuses_devices_and_directories(tmp_path):
    with pytest.raises(ValueError, match="device"):
        read_regular_file(Path("/dev/zero"), 100)
    with pytest.raises(ValueError, match="directory"):
        read_regular_file(tmp_path, 100)


def test_read_regular_file_has_a_size_limit(tmp_path):
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * 101)
    with pytest.raises(ValueError, match="limit is 100"):
        read_regular_file(big, 100)
    assert read_regular_file(big, 101) == b"#" * 101


def test_a_config_over_the_limit_is_one_error_naming_the_file(tmp_path):
    big = tmp_path / "companion.toml"
    big.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(ConfigError) as err:
        load_config(big)
    assert str(big) in str(err.value) and "limit" in str(err.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX (Windows has none)")
def test_a_public_key_that_is_a_fifo_names_the_key_and_the_file(tmp_path):
    os.mkfifo(tmp_path / "km.pem")
    config = tmp_path / "companion.toml"
    config.write_text('[keymanager]\npublic_key = "km.pem"\n')
    with pytest.raises(ConfigError) as err:
        load_config(config)
    message = str(err.value)
    assert "[keymanager] public_key" in message and "km.pem" in message and "FIFO" in message
