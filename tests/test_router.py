"""Scale-out through a litellm Router config: deployments share the load, a failing one falls back."""

from __future__ import annotations

import json

import pytest
import yaml

from judge.backends import get_backend
from judge.backends.llm import load_router_config
from judge.errors import BackendError
from judge.models import Case
from judge.rubrics import load_rubric
from judge.scoring import Scorer, Task
from judge.testing.openai_server import FakeOpenAIServer, server_error

RUBRIC = load_rubric("clinical/v3")


def deployment(name: str, url: str) -> dict:
    return {"model_name": name, "litellm_params": {"model": "openai/fake-judge", "api_base": url, "api_key": "none"}}


def tasks(n: int) -> list[Task]:
    return [Task(f"i{i}", "m", Case(question="Color?", references=["pink"], candidate=f"pink {i}")) for i in range(n)]


@pytest.fixture
def servers():
    with FakeOpenAIServer() as a, FakeOpenAIServer() as b:
        yield a, b


def write(tmp_path, cfg: dict, suffix: str = ".yaml"):
    path = tmp_path / f"router{suffix}"
    path.write_text(yaml.safe_dump(cfg) if suffix == ".yaml" else json.dumps(cfg))
    return path


def test_two_deployments_share_the_load(servers, tmp_path, store):
    a, b = servers
    cfg = write(
        tmp_path,
        {
            "model_list": [deployment("judge", a.url), deployment("judge", b.url)],
            "router_settings": {"routing_strategy": "simple-shuffle"},
        },
    )
    backend = get_backend("judge", router_config=str(cfg), backoff_base=0.01)
    assert backend.params["model"] == "router:judge"
    assert a.url not in json.dumps(backend.params)  # where it is served is not part of the cache key
    verdicts = Scorer(backend, RUBRIC, store, concurrency=8).score(tasks(40))
    assert all(v.score == 1.0 for v in verdicts)
    assert a.total + b.total == 40
    assert a.total >= 5 and b.total >= 5


def test_a_failing_deployment_is_routed_around(servers, tmp_path, store):
    a, b = servers
    b.reply = lambda req: server_error(500)
    cfg = write(tmp_path, {"model_list": [deployment("judge", a.url), deployment("judge", b.url)]}, ".json")
    backend = get_backend("judge", router_config=str(cfg), backoff_base=0.01, max_retries=5)
    verdicts = Scorer(backend, RUBRIC, store, concurrency=8).score(tasks(30))
    assert all(v.score == 1.0 for v in verdicts)
    assert a.total == 30  # every item answered by the healthy one
    assert 1 <= b.total < 15  # the failing one was tried, then cooled down


def test_fallback_to_another_model_group(servers, tmp_path, store):
    a, b = servers
    b.reply = lambda req: server_error(503)
    cfg = write(
        tmp_path,
        {
            "model_list": [deployment("judge", b.url), deployment("backup", a.url)],
            "router_settings": {"fallbacks": [{"judge": ["backup"]}]},
        },
    )
    backend = get_backend("judge", router_config=str(cfg), backoff_base=0.01)
    verdicts = Scorer(backend, RUBRIC, store, concurrency=4).score(tasks(10))
    assert all(v.score == 1.0 for v in verdicts)
    assert a.total == 10 and b.total >= 1


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("model_list: []\n", "non-empty `model_list`"),
        ("model_list: [{model_name: j}]\n", "litellm_params.model"),
        ("model_list: [{model_name: j, litellm_params: {model: openai/x}}]\nextra: 1\n", "unknown keys"),
        ("model_list: [\n", "not valid YAML"),
    ],
)
def test_bad_router_configs(tmp_path, content, needle):
    path = tmp_path / "r.yaml"
    path.write_text(content)
    with pytest.raises(BackendError, match=needle):
        load_router_config(path)


def test_spec_must_name_a_model_group(tmp_path):
    cfg = write(tmp_path, {"model_list": [deployment("judge", "http://127.0.0.1:1/v1")]})
    with pytest.raises(BackendError, match="not a model_name of the router config"):
        get_backend("other", router_config=str(cfg))
