"""The command line: every subcommand, its help, its exit codes (0 ok, 2 usage/config, 1 runtime)."""
from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import httpx
import openai
import pytest

from codex_convert_proxy import available_engines
from codex_convert_proxy.mock import MockUpstream
from server_harness import ProxyProcess, run_cli, write_config

pytestmark = pytest.mark.timeout(120)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["start", "--help"],
                                  ["init", "--help"], ["check-config", "--help"],
                                  ["codex-config", "--help"], ["mock-upstream", "--help"]])
def test_help_everywhere(args: list) -> None:
    result = run_cli(args)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_version_and_usage_errors() -> None:
    result = run_cli(["--version"])
    assert result.returncode == 0 and result.stdout.startswith("codex-convert-proxy ")
    assert run_cli([]).returncode == 2
    assert run_cli(["frobnicate"]).returncode == 2
    assert run_cli(["serve", "--workers", "0"]).returncode == 2
    result = run_cli(["serve", "--listen", "nope"])
    assert result.returncode == 2 and "--listen 'nope'" in result.stderr
    result = run_cli(["serve", "--api-key", "k"])
    assert result.returncode == 2 and "--provider or --upstream-url" in result.stderr
    result = run_cli(["serve", "--provider", "openai"])  # generic provider has no default URL
    assert result.returncode == 2 and "--upstream-url: is required" in result.stderr


def test_init_then_check_config(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    result = run_cli(["init", str(path)])
    assert result.returncode == 0, result.stderr
    data = json.loads(path.read_text())
    assert {b["name"] for b in data["backends"]} == {"deepseek", "glm", "kimi"}
    assert run_cli(["init", str(path)]).returncode == 1  # will not overwrite
    assert run_cli(["init", str(path), "--force"]).returncode == 0

    result = run_cli(["check-config", str(path)])
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "deepseek" in result.stdout
    assert "DEEPSEEK_API_KEY is not set" in result.stderr  # a warning, not an error
    assert run_cli(["check-config", "--strict", str(path)]).returncode == 2
    env = {"DEEPSEEK_API_KEY": "a", "ZHIPU_API_KEY": "b", "MOONSHOT_API_KEY": "c"}
    assert run_cli(["check-config", "--strict", str(path)], env=env).returncode == 0


def test_init_toml_and_stdout(tmp_path: Path) -> None:
    path = tmp_path / "proxy.toml"
    assert run_cli(["init", str(path)]).returncode == 0
    data = tomllib.loads(path.read_text())
    assert data["backends"][1]["match_rules"]["path_prefix"] == "/glm"
    assert run_cli(["check-config", str(path)]).returncode == 0
    result = run_cli(["init", "-"])
    assert result.returncode == 0 and json.loads(result.stdout)["listen"] == "127.0.0.1:8280"


def test_check_config_errors_name_file_and_field(tmp_path: Path) -> None:
    path = write_config(tmp_path / "bad.json", {"backends": [
        {"name": "x", "url": "not a url", "match_rules": {"default": "yes"}}]})
    result = run_cli(["check-config", path])
    assert result.returncode == 2
    assert f"{path}: backends[0].url: 'not a url' is not an http(s) URL" in result.stderr
    assert f"{path}: backends[0].match_rules.default: must be true or false" in result.stderr
    missing = run_cli(["check-config", str(tmp_path / "missing.json")])
    assert missing.returncode == 2 and "file not found" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = run_cli(["check-config", str(broken)])
    assert result.returncode == 2 and "invalid JSON at line 1" in result.stderr


def test_serve_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.json", {"listen": "127.0.0.1:0", "backends": [
        {"name": "x", "url": "http://h/v1", "timeouts": {"connect": "fast"}}]})
    result = run_cli(["serve", "--config", path])
    assert result.returncode == 2
    assert f"{path}: backends[0].timeouts.connect: must be a number" in result.stderr
    result = run_cli(["serve", "--config", str(tmp_path / "none.json")])
    assert result.returncode == 2 and "none.json: file not found" in result.stderr


def test_serve_when_the_port_is_taken_exits_1(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        result = run_cli(["serve", "--provider", "deepseek", "--api-key", "k",
                          "--listen", f"127.0.0.1:{port}"])
    assert result.returncode == 1
    assert "cannot listen on" in result.stderr


@pytest.mark.skipif("rust" in available_engines(), reason="the rust engine is built here")
def test_serve_engine_rust_without_the_extension_exits_2() -> None:
    result = run_cli(["serve", "--engine", "rust", "--provider", "deepseek", "--api-key", "k"])
    assert result.returncode == 2 and "rust engine is not available" in result.stderr


def test_codex_config_snippet(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.json", {"listen": "0.0.0.0:9999", "backends": [
        {"name": "main", "url": "http://h/v1", "model": "deepseek-chat"},
        {"name": "glm", "url": "http://h/api/paas/v4", "model": "glm-4.6",
         "match_rules": {"path_prefix": "/glm"}}]})
    result = run_cli(["codex-config", "--config", path, "--backend", "glm"])
    assert result.returncode == 0, result.stderr
    data = tomllib.loads(result.stdout)
    provider = data["model_providers"][data["model_provider"]]
    assert provider["wire_api"] == "responses"
    assert provider["base_url"] == "http://127.0.0.1:9999/glm/v1"
    assert provider["env_key"] == "CODEX_CONVERT_PROXY_API_KEY"
    assert data["model"] == "glm-4.6"
    default = tomllib.loads(run_cli(["codex-config", "--config", path]).stdout)
    assert default["model_providers"][default["model_provider"]]["base_url"] == \
        "http://127.0.0.1:9999/v1"
    plain = tomllib.loads(run_cli(["codex-config"]).stdout)
    assert plain["model_providers"][plain["model_provider"]]["base_url"] == \
        "http://127.0.0.1:8280/v1"
    assert run_cli(["codex-config", "--config", path, "--backend", "nope"]).returncode == 2
    assert tomllib.loads(run_cli(["codex-config", "--model", "deepseek-chat"]).stdout)[
        "model"] == "deepseek-chat"


def test_demo_mode_serves_the_builtin_mock() -> None:
    """A newcomer's first run: no config at all, then the OpenAI SDK streams an answer."""
    with ProxyProcess([]) as proxy:
        assert "built-in mock upstream" in "".join(proxy.stdout)
        client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="anything", max_retries=0)
        events = list(client.responses.create(model="any-model", input="hello", stream=True))
        assert events[-1].type == "response.completed"
        assert events[-1].response.output_text
    assert proxy.proc.returncode == 0  # SIGTERM: a clean shutdown, the mock stopped too


def test_single_backend_from_flags(engine: str) -> None:
    with MockUpstream() as mock, ProxyProcess(
            ["--provider", "deepseek", "--upstream-url", mock.base_url, "--api-key-env",
             "TEST_UPSTREAM_KEY", "--model", "deepseek-chat", "--engine", engine],
            env={"TEST_UPSTREAM_KEY": "sk-from-env"}) as proxy:
        assert f"engine {engine}" in "".join(proxy.stdout)
        resp = httpx.post(proxy.url + "/v1/responses", timeout=30,
                          json={"model": "whatever", "input": "hi"})
        assert resp.status_code == 200 and resp.json()["status"] == "completed"
        sent = mock.requests[-1]
        assert sent["body"]["model"] == "deepseek-chat"
        assert sent["headers"]["authorization"] == "Bearer sk-from-env"
        assert "sk-from-env" not in proxy.output()


def test_start_alias(tmp_path: Path) -> None:
    with MockUpstream() as mock:
        path = tmp_path / "c.toml"
        path.write_text(f'[[backends]]\nname = "m"\nurl = "{mock.base_url}"\n')
        with ProxyProcess(["--config", str(path)], command="start") as proxy:
            resp = httpx.post(proxy.url + "/responses", json={"model": "m", "input": "hi"},
                              timeout=30)
            assert resp.status_code == 200 and resp.headers["x-ccp-backend"] == "m"
