"""Config loading and validation: the crate's JSON unchanged, TOML, additions, and errors that
name the file, the field and the problem."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codex_convert_proxy.server.config import (ConfigError, chat_completions_url, load_config,
                                               parse_config, parse_listen, versioned_base)

pytestmark = pytest.mark.timeout(30)

CRATE_CONFIG = {
    "listen": "0.0.0.0:8080",
    "log_dir": "./logs",
    "log_body": False,
    "conversation_ttl_seconds": 3600,
    "backends": [
        {"name": "glm", "url": "https://open.bigmodel.cn/api/paas/v4", "api_key": "glm-key",
         "protocol": "openai", "model": "glm-4.6",
         "match_rules": {"path_prefix": "/glm", "default": True}},
        {"name": "kimi", "url": "https://api.moonshot.cn/v1", "api_key": "kimi-key",
         "match_rules": {"header": {"name": "X-Backend", "value": "kimi"}}},
        {"name": "my-vllm", "url": "http://10.0.0.5:8000/v1", "api_key": ""},
    ],
}


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def problems(data: object, source: str = "cfg.json") -> list:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source)
    return info.value.problems


def test_crate_json_is_accepted_unchanged(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "config.json", json.dumps(CRATE_CONFIG)))
    assert config.listen == "0.0.0.0:8080" and config.host_port == ("0.0.0.0", 8080)
    assert config.log_dir == "./logs" and config.conversation_ttl_seconds == 3600
    glm, kimi, vllm = config.backends
    assert (glm.provider, kimi.provider, vllm.provider) == ("glm", "kimi", "openai")
    assert glm.chat_url == "https://open.bigmodel.cn/api/paas/v4/chat/completions"
    assert kimi.chat_url == "https://api.moonshot.cn/v1/chat/completions"
    assert glm.match_rules.path_prefix == "/glm" and glm.match_rules.default
    assert kimi.match_rules.header.name == "x-backend" and kimi.match_rules.header.value == "kimi"
    assert vllm.api_key is None  # "" means keyless
    assert config.default_backend() is glm
    assert config.warnings == ()


def test_defaults() -> None:
    config = parse_config({"backends": [{"name": "deepseek", "api_key": "k"}]})
    assert config.listen == "127.0.0.1:8280"
    assert config.conversation_ttl_seconds == 7200
    assert config.keepalive_seconds == 15
    assert config.retries.count == 2
    assert config.log_body is False
    # A known provider without url uses its profile's default base URL.
    assert config.backends[0].chat_url == "https://api.deepseek.com/v1/chat/completions"


def test_toml_with_additions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DS_KEY", "from-env")
    monkeypatch.setenv("TEST_CLIENT_KEYS", "a1, b2")
    path = write(tmp_path, "config.toml", """
listen = "127.0.0.1:9000"
client_api_keys = ["k0"]
client_api_keys_env = "TEST_CLIENT_KEYS"
max_body_bytes = 1000
retries = 3
[[backends]]
name = "ds"
provider = "deepseek"
url = "https://api.deepseek.com"
api_key_env = "TEST_DS_KEY"
headers = { "X-Team" = "core" }
extra_body = { top_k = 20 }
[backends.match_rules]
model = ["deepseek-*", "ds"]
[backends.timeouts]
connect = 2
read = 30
""")
    config = load_config(path)
    backend = config.backends[0]
    assert backend.api_key == "from-env" and backend.provider == "deepseek"
    assert backend.chat_url == "https://api.deepseek.com/v1/chat/completions"  # bare host
    assert backend.headers == (("X-Team", "core"),) and backend.extra_body == {"top_k": 20}
    assert backend.match_rules.matches_model("deepseek-reasoner")
    assert backend.match_rules.matches_model("ds") and not backend.match_rules.matches_model("d")
    assert backend.timeouts.connect == 2 and backend.timeouts.read == 30
    assert config.client_api_keys == ("k0", "a1", "b2")
    assert config.retries.count == 3 and config.max_body_bytes == 1000
    # Round trip through the worker hand-over format.
    again = parse_config(config.to_dict())
    assert again.backends == config.backends
    assert again.client_api_keys == config.client_api_keys


def test_errors_name_file_field_and_problem() -> None:
    found = problems({
        "listen": "nohost",
        "backends": [
            {"name": "a", "url": "ftp://x", "protocol": "anthropic"},
            {"url": "http://ok/v1", "timeouts": {"read": -1}},
            {"name": "c", "url": "http://ok/v1", "provider": "nosuch",
             "match_rules": {"path_prefix": "/v1/x", "header": {"name": "bad header"}}},
        ]})
    text = "\n".join(found)
    assert "cfg.json: listen: 'nohost': expected HOST:PORT" in text
    assert "cfg.json: backends[0].url: 'ftp://x' is not an http(s) URL" in text
    assert "cfg.json: backends[0].protocol: 'anthropic' is not supported" in text
    assert "cfg.json: backends[1].name: is required" in text
    assert "cfg.json: backends[1].timeouts.read: must be greater than 0" in text
    assert "cfg.json: backends[2].provider: unknown provider 'nosuch'" in text
    assert "cfg.json: backends[2].match_rules.path_prefix: '/v1/x' would shadow" in text
    assert "cfg.json: backends[2].match_rules.header.value: is required" in text
    assert all(p.startswith("cfg.json: ") for p in found)


@pytest.mark.parametrize("data, expected", [
    ({}, "backends: is required"),
    ({"backends": []}, "backends: must list at least one backend"),
    ({"backends": {}}, "backends: must be a list"),
    ({"backends": [{"name": "x", "url": "http://h/v1"}], "log_body": "yes"},
     "log_body: must be true or false"),
    ({"backends": [{"name": "x", "url": "http://h/v1"}], "max_body_bytes": 0},
     "max_body_bytes: must be greater than 0"),
    ({"backends": [{"name": "x", "url": "http://h/v1"}], "retries": {"count": 1.5}},
     "retries.count: must be an integer"),
    ({"backends": [{"name": "x"}]}, "backends[0].url: is required"),
    ({"backends": [{"name": "x", "url": "http://h/v1", "api_key": "a", "api_key_env": "B"}]},
     "backends[0].api_key_env: set either api_key or api_key_env"),
    ({"backends": [{"name": "x", "url": "http://h/v1", "api_key_env": "CCP_SURELY_UNSET_VAR"}]},
     "backends[0].api_key_env: environment variable CCP_SURELY_UNSET_VAR is not set"),
    ({"backends": [{"name": "x", "url": "http://h/v1"}, {"name": "x", "url": "http://h/v1"}]},
     "backends[1].name: 'x' is already used by backends[0]"),
    ({"backends": [{"name": "a", "url": "http://h/v1", "match_rules": {"default": True}},
                   {"name": "b", "url": "http://h/v1", "match_rules": {"default": True}}]},
     "backends[1].match_rules.default: only one backend can be the default"),
    ({"backends": [{"name": "a", "url": "http://h/v1", "match_rules": {"path_prefix": "/p"}},
                   {"name": "b", "url": "http://h/v1", "match_rules": {"path_prefix": "p/"}}]},
     "backends[1].match_rules.path_prefix: '/p' is already used"),
    ({"backends": [{"name": "a", "url": "http://h/v1", "headers": {"Host": "x"}}]},
     "backends[0].headers.Host: is managed by the proxy"),
    ({"backends": [{"name": "a b", "url": "http://h/v1"}]},
     "backends[0].name: 'a b' may only hold"),
    ({"backends": [{"name": "a", "url": "http://h/v1", "match_rules": {"model": 3}}]},
     "backends[0].match_rules.model: must be a model name or a list"),
    ({"backends": [{"name": "a", "url": "http://h/v1"}], "engine": "go"},
     "engine: 'go' is not 'rust' or 'python'"),
    ([], "the top level must be an object"),
])
def test_each_problem_is_reported(data: object, expected: str) -> None:
    assert any(expected in p for p in problems(data)), problems(data)


def test_unknown_fields_are_warnings_with_a_hint() -> None:
    config = parse_config({"lsiten": "x", "backends": [
        {"name": "a", "url": "http://h/v1", "match_rule": {}}]}, "c.json")
    assert "c.json: lsiten: unknown field, ignored (did you mean 'listen'?)" in config.warnings
    assert any("backends[0].match_rule: unknown field, ignored (did you mean 'match_rules'?)"
               in w for w in config.warnings)


def test_unset_key_env_is_a_warning_for_check_config() -> None:
    config = parse_config({"backends": [{"name": "a", "url": "http://h/v1",
                                         "api_key_env": "CCP_SURELY_UNSET_VAR"}]},
                          "c.json", resolve_env=False)
    assert any("CCP_SURELY_UNSET_VAR is not set" in w for w in config.warnings)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.json: file not found"):
        load_config(tmp_path / "nope.json")
    bad = write(tmp_path, "bad.json", '{"listen": ')
    with pytest.raises(ConfigError, match=r"bad.json: invalid JSON at line 1 column"):
        load_config(bad)
    bad = write(tmp_path, "bad.toml", "listen = ")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML"):
        load_config(bad)
    # No telling extension: JSON, then TOML.
    conf = write(tmp_path, "proxy.conf", '[[backends]]\nname = "a"\nurl = "http://h/v1"\n')
    assert load_config(conf).backends[0].name == "a"


@pytest.mark.parametrize("url, chat, base", [
    ("https://api.deepseek.com/v1", "https://api.deepseek.com/v1/chat/completions",
     "https://api.deepseek.com/v1"),
    ("https://api.deepseek.com/v1/", "https://api.deepseek.com/v1/chat/completions",
     "https://api.deepseek.com/v1"),
    ("https://open.bigmodel.cn/api/paas/v4", "https://open.bigmodel.cn/api/paas/v4/chat/completions",
     "https://open.bigmodel.cn/api/paas/v4"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1/chat/completions",
     "http://127.0.0.1:8000/v1"),
    ("https://gw.example/openai/v1/chat/completions",
     "https://gw.example/openai/v1/chat/completions", "https://gw.example/openai/v1"),
    ("https://dashscope.aliyuncs.com/compatible-mode/v1",
     "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions",
     "https://dashscope.aliyuncs.com/compatible-mode/v1"),
])
def test_upstream_urls_never_double_v1(url: str, chat: str, base: str) -> None:
    assert chat_completions_url(url) == chat
    assert versioned_base(url) == base


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:8280", ("127.0.0.1", 8280)), (":9000", ("0.0.0.0", 9000)),
    ("[::1]:80", ("::1", 80)), ("localhost:0", ("localhost", 0)),
])
def test_parse_listen(text: str, expected: tuple) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8280", "host:", "host:99999", "::1:80", "[::1]80"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)


def test_protocol_spellings_and_aliases() -> None:
    config = parse_config({"backends": [
        {"name": "a", "url": "http://h/v1", "protocol": "chat"},
        {"name": "b", "url": "http://h/v1", "protocol": "Chat_Completions", "provider": "zhipu"},
        {"name": "moonshot", "url": "http://h/v1"}]})
    assert [b.provider for b in config.backends] == ["openai", "glm", "kimi"]
