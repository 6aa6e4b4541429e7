"""Inventory: hosts, groups, variable precedence, patterns, and one-line errors."""

from __future__ import annotations

import pytest

from provision.inventory import InventoryError, load, parse

GOOD = """
vars: {cluster: classroom, role: none, level: all}
hosts:
  m1: {address: 10.0.0.11, user: vagrant, key: ~/.ssh/id, port: 2222, vars: {level: host}}
  m2: {address: 10.0.0.12}
  w1: {address: 10.0.0.21}
  me: {connection: local}
groups:
  masters: {hosts: [m1, m2], vars: {role: master, level: group}}
  workers: {hosts: [w1], vars: {role: worker}}
  etcd: {hosts: [m1]}
"""


def test_hosts_groups_and_connection_details():
    inv = parse(GOOD)
    m1 = inv.hosts["m1"]
    assert (m1.address, m1.user, m1.key, m1.port, m1.connection) == \
        ("10.0.0.11", "vagrant", "~/.ssh/id", 2222, "ssh")
    assert inv.hosts["me"].connection == "local" and inv.hosts["m2"].port == 22
    assert inv.groups["masters"] == ["m1", "m2"] and inv.groups["etcd"] == ["m1"]


def test_variables_host_beats_group_beats_all():
    inv = parse(GOOD)
    assert inv.hosts["m1"].vars == {"cluster": "classroom", "role": "master", "level": "host"}
    assert inv.hosts["m2"].vars["level"] == "group"
    assert inv.hosts["w1"].vars == {"cluster": "classroom", "role": "worker", "level": "all"}
    assert inv.hosts["me"].vars["role"] == "none"


def test_standard_groups_always_exist():
    inv = parse("hosts: {a: {address: 1.2.3.4}}")
    assert inv.groups == {"masters": [], "workers": []}
    assert inv.select("masters") == []


@pytest.mark.parametrize("pattern, names", [
    ("all", ["m1", "m2", "w1", "me"]),
    ("masters", ["m1", "m2"]),
    ("masters:workers", ["m1", "m2", "w1"]),
    ("all,!masters", ["w1", "me"]),
    ("m*", ["m1", "m2", "me"]),
    ("w1, m2", ["m2", "w1"]),
])
def test_select_patterns(pattern, names):
    assert [h.name for h in parse(GOOD).select(pattern)] == names


@pytest.mark.parametrize("text, message", [
    ("hosts: {m1: {user: x}}", "inv.yaml: host 'm1': missing address"),
    ("hosts: {m1: {address: a}}\ngroups: {masters: {hosts: [m1, m9]}}",
     "inv.yaml: group 'masters' lists unknown host 'm9'"),
    ("hosts: {m1: {address: a\n", "inv.yaml: bad YAML at line 2"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("hosts: {m1: {address: a, prot: 22}}", "host 'm1': unknown key 'prot'"),
    ("hosts: {m1: {address: a, port: ssh}}", "host 'm1': port must be a number"),
    ("hosts: {m1: {address: a}}\ngroups: {masters: {hosts: m1}}", "hosts must be a list"),
    ("hostz: {}", "unknown top-level key 'hostz'"),
])
def test_errors_say_what_and_where_in_one_line(text, message):
    with pytest.raises(InventoryError) as err:
        parse(text, "inv.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_pattern_and_unreadable_file(tmp_path):
    with pytest.raises(InventoryError, match="no host or group named 'dbs'"):
        parse(GOOD).select("dbs")
    with pytest.raises(InventoryError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    (tmp_path / "inv.yaml").write_text(GOOD)
    assert len(load(tmp_path / "inv.yaml").hosts) == 4
