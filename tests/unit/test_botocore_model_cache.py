"""botocore_model_cache and the mitogen_linear strategy: what a persistent interpreter keeps per run."""

from __future__ import annotations

import boto3
import botocore.loaders
import botocore.session
import pytest
from ansible_collections.giftcrypto.platform.plugins.module_utils import botocore_models
from ansible_collections.giftcrypto.platform.plugins.modules import botocore_model_cache
from moto import mock_aws

from tests.unit import moto_modules


@pytest.fixture(autouse=True)
def fresh_loader_class(monkeypatch, tmp_path):
    """Every test starts from botocore's own Loader and an empty shared cache; both are put back after."""
    moto_modules.dummy_environment(monkeypatch, tmp_path)
    monkeypatch.setattr(botocore.loaders.Loader, "__init__", botocore.loaders.Loader.__init__)
    monkeypatch.setattr(botocore.loaders.Loader, botocore_models._MARK, False, raising=False)
    monkeypatch.setattr(botocore_models, "_SHARED", {})


@pytest.fixture
def file_reads(monkeypatch):
    """The paths botocore's JSON file loader reads, in order."""
    reads: list[str] = []
    original = botocore.loaders.JSONFileLoader.load_file

    def load_file(self, file_path):
        reads.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", load_file)
    return reads


def _sqs_model_reads(reads: list[str]) -> list[str]:
    return [path for path in reads if "/sqs/" in path and path.endswith("/service-2")]


def test_without_the_cache_every_session_parses_the_model_again(file_reads):
    for _ in range(2):
        botocore.session.get_session().create_client("sqs", region_name="us-east-1")
    assert len(_sqs_model_reads(file_reads)) == 2


def test_shared_sessions_parse_each_model_once(file_reads):
    assert botocore_models.share() is True
    first = botocore.session.get_session()
    second = botocore.session.get_session()
    first.create_client("sqs", region_name="us-east-1")
    second.create_client("sqs", region_name="eu-west-1")
    assert len(_sqs_model_reads(file_reads)) == 1
    assert first.get_component("data_loader")._cache is second.get_component("data_loader")._cache
    assert botocore_models.cached_entries() > 0


def test_share_installs_once():
    assert botocore_models.share() is True
    assert botocore_models.share() is False


def test_loaders_with_other_search_paths_keep_a_cache_of_their_own(tmp_path):
    botocore_models.share()
    default = botocore.loaders.create_loader()
    other = botocore.loaders.Loader(extra_search_paths=[str(tmp_path)])
    assert default._cache is botocore.loaders.create_loader()._cache
    assert other._cache is not default._cache


@mock_aws
def test_clients_of_shared_sessions_still_work():
    botocore_models.share()
    sqs = boto3.session.Session().client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="shared")["QueueUrl"]
    again = boto3.session.Session().client("sqs", region_name="us-east-1")
    assert again.list_queues()["QueueUrls"] == [url]
    assert again.meta.region_name == "us-east-1"


def test_module_installs_the_cache_never_changed_and_runs_in_check_mode(capsys):
    run = moto_modules.runner(botocore_model_cache, capsys)
    first = run({}, check_mode=True)
    assert first["rc"] == 0
    assert first["changed"] is False
    assert first["installed"] is True
    second = run({})
    assert second["changed"] is False
    assert second["installed"] is False


def test_module_refuses_options(capsys):
    run = moto_modules.runner(botocore_model_cache, capsys)
    result = run({"anything": 1})
    assert result["failed"] is True
    assert "anything" in result["msg"]


class TestStrategyCollectionList:
    """giftcrypto.platform.mitogen_linear lists the installed collections once per run."""

    @pytest.fixture
    def strategy(self, monkeypatch):
        from ansible_collections.giftcrypto.platform.plugins.strategy import mitogen_linear

        calls: list[tuple] = []

        def original(search_paths=None, coll_filter=None, artifacts_manager=None, dedupe=True):
            calls.append((search_paths, coll_filter, dedupe))
            return iter([b"/collections/a", b"/collections/b"])

        monkeypatch.setattr(mitogen_linear, "_ORIGINAL", original)
        monkeypatch.setattr(mitogen_linear, "_ALL", [])
        return mitogen_linear, calls

    def test_the_default_call_is_answered_from_the_first(self, strategy):
        module, calls = strategy
        assert list(module._list_collection_dirs()) == [b"/collections/a", b"/collections/b"]
        assert list(module._list_collection_dirs()) == [b"/collections/a", b"/collections/b"]
        assert len(calls) == 1

    def test_filtered_calls_are_not_cached(self, strategy):
        module, calls = strategy
        list(module._list_collection_dirs(coll_filter="amazon.aws"))
        list(module._list_collection_dirs(coll_filter="amazon.aws"))
        assert calls == [(None, "amazon.aws", True), (None, "amazon.aws", True)]

    def test_it_is_mitogen_linear(self, strategy):
        from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule

        module, _ = strategy
        assert issubclass(module.StrategyModule, StrategyModule)


class TestStrategyLookups:
    """giftcrypto.platform.mitogen_linear loads the lookups a task names in the controller, once."""

    @staticmethod
    def _task(args=None, loop=None, when=None, variables=None, loop_with=None):
        from types import SimpleNamespace

        return SimpleNamespace(
            args=args or {}, loop=loop, when=when or [], vars=variables or {}, loop_with=loop_with
        )

    def test_names_are_found_in_arguments_conditions_loops_and_variables(self):
        from ansible_collections.giftcrypto.platform.plugins.strategy import mitogen_linear

        task = self._task(
            args={
                "content": "{{ lookup('ansible.builtin.template', 'a.j2') }}",
                "nested": [{"x": "{{ q( \"env\", 'H') }}"}],
            },
            when=["query('amazon.aws.secretsmanager_secret', name) | length > 0"],
            loop="{{ lookup('ansible.builtin.fileglob', '*.sql', wantlist=True) }}",
            variables={"seq": "{{ range(3) | list }}", "v": "{{ lookup(name_in_a_variable) }}"},
            loop_with="items",
        )
        assert mitogen_linear._lookup_names(task) == {
            "ansible.builtin.template",
            "env",
            "amazon.aws.secretsmanager_secret",
            "ansible.builtin.fileglob",
            "items",
        }

    def test_each_lookup_is_loaded_once_and_aws_ones_parse_their_service(self, monkeypatch):
        from ansible_collections.giftcrypto.platform.plugins.strategy import mitogen_linear

        loaded, parsed = [], []
        monkeypatch.setattr(mitogen_linear, "_LOADED", set())
        monkeypatch.setattr(mitogen_linear.lookup_loader, "get", lambda name: loaded.append(name) or None)
        monkeypatch.setattr(mitogen_linear, "_parse_service_model", parsed.append)
        task = self._task(
            args={"a": "{{ lookup('amazon.aws.secretsmanager_secret', 'x') }}"}, loop_with="items"
        )
        mitogen_linear._load_lookups(task)
        mitogen_linear._load_lookups(task)
        assert sorted(loaded) == ["amazon.aws.secretsmanager_secret", "items"]
        assert parsed == ["secretsmanager"]

    def test_a_lookup_that_fails_to_load_is_left_to_the_worker(self, monkeypatch):
        from ansible_collections.giftcrypto.platform.plugins.strategy import mitogen_linear

        def broken(name):
            raise RuntimeError(f"cannot load {name}")

        monkeypatch.setattr(mitogen_linear, "_LOADED", set())
        monkeypatch.setattr(mitogen_linear.lookup_loader, "get", broken)
        mitogen_linear._load_lookups(self._task(args={"a": "{{ lookup('nowhere.none.thing') }}"}))
        assert "nowhere.none.thing" in mitogen_linear._LOADED

    def test_parsing_a_service_model_fills_the_shared_cache_without_a_request(self, file_reads):
        from ansible_collections.giftcrypto.platform.plugins.strategy import mitogen_linear

        mitogen_linear._parse_service_model("sqs")
        assert len(_sqs_model_reads(file_reads)) == 1
        botocore.session.get_session().create_client("sqs", region_name="us-east-1")
        assert len(_sqs_model_reads(file_reads)) == 1
