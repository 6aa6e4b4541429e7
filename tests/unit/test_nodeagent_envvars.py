"""A container's environment: $(VAR) expansion, valueFrom, envFrom and service links, as kubelet builds it."""

from __future__ import annotations

import base64

import pytest

from controlplane.client import resources as r
from controlplane.client.fake import FakeClient
from nodeagent import envvars
from nodeagent.envvars import ConfigError, expand, make_environment
from nodeagent.objects import ClientSource


@pytest.mark.parametrize("text, expected", [
    ("$(VAR)", "value"),
    ("prefix-$(VAR)-suffix", "prefix-value-suffix"),
    ("$(VAR)$(VAR)", "valuevalue"),
    ("$(UNDEFINED)", "$(UNDEFINED)"),          # undefined references stay as they are
    ("$$(VAR)", "$(VAR)"),                    # $$ escapes
    ("$$$(VAR)", "$value"),
    ("$(VAR", "$(VAR"),                       # unclosed
    ("$VAR", "$VAR"),                         # only $( ... ) is a reference
    ("a$", "a$"),
    ("$(EMPTY)x", "x"),
    ("$()", "$()"),
    ("", ""),
])
def test_expand_follows_upstream_rules(text, expected):
    assert expand(text, {"VAR": "value", "EMPTY": ""}) == expected


def test_expand_takes_the_first_mapping_that_has_the_name():
    assert expand("$(A) $(B)", {"A": "first"}, {"A": "second", "B": "b"}) == "first b"


def pod(**spec):
    return {"metadata": {"name": "web-1", "namespace": "shop", "uid": "uid-1", "labels": {"app": "web"},
                         "annotations": {"team": "blue"}},
            "spec": {"nodeName": "worker-1", "serviceAccountName": "default", **spec}}


@pytest.fixture
def source():
    client = FakeClient()
    client.seed(r.CONFIGMAPS, {"metadata": {"name": "cfg", "namespace": "shop"},
                               "data": {"color": "blue", "size": "L", "bad-name=x": "skip", "1abc": "ok"}})
    client.seed(r.SECRETS, {"metadata": {"name": "db", "namespace": "shop"},
                            "data": {"password": base64.b64encode(b"s3cret").decode()}})
    client.seed(r.SERVICES, {"metadata": {"name": "redis-primary", "namespace": "shop"},
                             "spec": {"clusterIP": "10.96.0.20", "ports": [{"name": "redis", "port": 6379}]}})
    client.seed(r.SERVICES, {"metadata": {"name": "kubernetes", "namespace": "default"},
                             "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443}]}})
    client.seed(r.SERVICES, {"metadata": {"name": "other", "namespace": "elsewhere"},
                             "spec": {"clusterIP": "10.96.0.30", "ports": [{"port": 80}]}})
    client.seed(r.SERVICES, {"metadata": {"name": "headless", "namespace": "shop"},
                             "spec": {"clusterIP": "None", "ports": [{"port": 80}]}})
    return ClientSource(client)


def test_value_from_config_map_secret_and_downward_api(source):
    container = {"name": "app", "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}, "env": [
        {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['team']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "MEM_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}},
    ]}
    env = make_environment(pod(containers=[container]), container, source, pod_ip="10.244.1.5", host_ip="127.0.1.11")
    assert env["COLOR"] == "blue" and env["PASSWORD"] == "s3cret"
    assert (env["POD"], env["NS"], env["UID"], env["APP"], env["TEAM"]) == ("web-1", "shop", "uid-1", "web", "blue")
    assert (env["NODE"], env["SA"], env["IP"], env["HOST"]) == ("worker-1", "default", "10.244.1.5", "127.0.1.11")
    assert env["CPU_M"] == "250"
    assert env["CPU"] == "1"  # 0.25 CPU rounded up to whole CPUs
    assert env["MEM_MI"] == "64"
    assert env["MEM_REQ"] == str(64 * 2**20)  # a request defaults to the limit


def test_limit_that_is_not_set_reads_as_node_allocatable(source):
    container = {"name": "app", "env": [{"name": "MEM", "valueFrom": {"resourceFieldRef": {
        "resource": "limits.memory", "divisor": "1Gi"}}}]}
    env = make_environment(pod(containers=[container]), container, source, allocatable={"memory": "4Gi"})
    assert env["MEM"] == "4"


def test_value_expands_against_earlier_variables_and_services_only(source):
    container = {"name": "app", "env": [
        {"name": "A", "value": "a"},
        {"name": "B", "value": "$(A)-b-$(C)"},  # C comes later: not expanded
        {"name": "C", "value": "c"},
        {"name": "URL", "value": "redis://$(REDIS_PRIMARY_SERVICE_HOST):$(REDIS_PRIMARY_SERVICE_PORT)"},
        {"name": "LITERAL", "value": "$$(A)"},
    ]}
    env = make_environment(pod(), container, source)
    assert env["B"] == "a-b-$(C)"
    assert env["URL"] == "redis://10.96.0.20:6379"
    assert env["LITERAL"] == "$(A)"


def test_env_from_with_prefix_skips_invalid_names_and_warns(source):
    warnings = []
    container = {"name": "app", "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                                            {"secretRef": {"name": "db"}}],
                 "env": [{"name": "CFG_color", "value": "overridden by env"}]}
    env = make_environment(pod(), container, source, warn=warnings.append)
    assert env["CFG_size"] == "L" and env["CFG_1abc"] == "ok" and env["password"] == "s3cret"
    assert env["CFG_color"] == "overridden by env"
    assert "CFG_bad-name=x" not in env
    assert warnings and "CFG_bad-name=x" in warnings[0]


def test_service_links(source):
    env = make_environment(pod(), {"name": "app"}, source)
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "10.96.0.20"
    assert env["REDIS_PRIMARY_SERVICE_PORT"] == "6379"
    assert env["REDIS_PRIMARY_SERVICE_PORT_REDIS"] == "6379"
    assert env["REDIS_PRIMARY_PORT"] == "tcp://10.96.0.20:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP"] == "tcp://10.96.0.20:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_PROTO"] == "tcp"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_PORT"] == "6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "10.96.0.20"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"  # the master service reaches every namespace
    assert not any(k.startswith(("OTHER_", "HEADLESS_")) for k in env)


def test_enable_service_links_false_keeps_only_the_master_service(source):
    env = make_environment(pod(enableServiceLinks=False), {"name": "app"}, source)
    assert "REDIS_PRIMARY_SERVICE_HOST" not in env
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"


def test_user_variables_override_service_variables(source):
    container = {"name": "app", "env": [{"name": "KUBERNETES_SERVICE_HOST", "value": "mine"}]}
    assert make_environment(pod(), container, source)["KUBERNETES_SERVICE_HOST"] == "mine"


@pytest.mark.parametrize("var, message", [
    ({"configMapKeyRef": {"name": "missing", "key": "k"}}, 'configmap "missing" not found'),
    ({"configMapKeyRef": {"name": "cfg", "key": "nope"}}, "couldn't find key nope in ConfigMap shop/cfg"),
    ({"secretKeyRef": {"name": "missing", "key": "k"}}, 'secret "missing" not found'),
    ({"secretKeyRef": {"name": "db", "key": "nope"}}, "couldn't find key nope in Secret shop/db"),
    ({"fieldRef": {"fieldPath": "spec.containers"}}, "unsupported fieldPath: spec.containers"),
])
def test_missing_references_are_config_errors_with_upstream_messages(source, var, message):
    container = {"name": "app", "env": [{"name": "X", "valueFrom": var}]}
    with pytest.raises(ConfigError) as e:
        make_environment(pod(), container, source)
    assert str(e.value) == message


def test_optional_references_to_missing_things_define_nothing(source):
    container = {"name": "app",
                 "envFrom": [{"configMapRef": {"name": "missing", "optional": True}}],
                 "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope", "optional": True}}},
                         {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}}]}
    env = make_environment(pod(), container, source)
    assert "X" not in env and "Y" not in env


def test_env_from_a_missing_config_map_is_an_error(source):
    with pytest.raises(ConfigError, match='configmap "missing" not found'):
        make_environment(pod(), {"name": "a", "envFrom": [{"configMapRef": {"name": "missing"}}]}, source)


def test_command_and_args_expand_from_the_environment():
    container = {"command": ["sh", "-c", "echo $(GREETING) $(MISSING)"], "args": ["$(GREETING)", "$$(GREETING)"]}
    command, args = envvars.expand_command(container, {"GREETING": "hi"})
    assert command == ["sh", "-c", "echo hi $(MISSING)"]
    assert args == ["hi", "$(GREETING)"]
