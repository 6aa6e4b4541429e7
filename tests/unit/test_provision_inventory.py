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


# -- group children and Ansible's own YAML shape ------------------------------------------

CHILDREN = """
vars: {cni: none, level: all}
hosts:
  m1: {address: 10.0.0.11, vars: {level: host}}
  w1: {address: 10.0.0.21}
  lb: {address: 10.0.0.5}
groups:
  cluster: {children: [masters, workers], vars: {cni: bridge, level: cluster, role: node}}
  masters: {hosts: [m1], vars: {role: master, level: masters}}
  workers: {hosts: [w1]}
  site: {hosts: [lb], children: [cluster], vars: {level: site, dc: one}}
"""


def test_children_groups_hold_their_childrens_hosts():
    inv = parse(CHILDREN)
    assert inv.groups["cluster"] == ["m1", "w1"]
    assert inv.groups["site"] == ["lb", "m1", "w1"]
    assert [h.name for h in inv.select("cluster:!masters")] == ["w1"]


@pytest.mark.parametrize("host, expected", [
    # all < site (parent) < cluster (child) < masters (grandchild) < host
    ("m1", {"cni": "bridge", "level": "host", "role": "master", "dc": "one"}),
    ("w1", {"cni": "bridge", "level": "cluster", "role": "node", "dc": "one"}),
    ("lb", {"cni": "none", "level": "site", "dc": "one"}),
])
def test_children_variables_follow_ansibles_precedence(host, expected):
    assert parse(CHILDREN).hosts[host].vars == expected


ANSIBLE = """
all:
  vars: {ansible_user: vagrant, level: all, ntp: pool.ntp.org}
  hosts:
    me: {ansible_connection: local}
  children:
    k8s:
      vars: {level: k8s, cni: bridge}
      children:
        masters:
          hosts:
            m1: {ansible_host: 10.0.0.11, ansible_port: 2222, etcd_name: m1}
          vars: {level: masters}
        workers:
          hosts:
            w1.lab: {level: host}
    zeta: {hosts: {m1: {from_zeta: true}}, vars: {cni: zeta}}
    alpha: {hosts: {m1: }, vars: {cni: alpha}}
"""


def test_ansible_yaml_inventory_hosts_groups_and_connection_vars():
    inv = parse(ANSIBLE)
    m1, w1, me = inv.hosts["m1"], inv.hosts["w1.lab"], inv.hosts["me"]
    assert (m1.address, m1.port, m1.user) == ("10.0.0.11", 2222, "vagrant")
    assert (w1.address, w1.port, w1.user) == ("w1.lab", 22, "vagrant")  # reached by name
    assert me.connection == "local"
    assert inv.groups["k8s"] == ["m1", "w1.lab"] and inv.groups["alpha"] == ["m1"]
    assert [h.name for h in inv.select("k8s,me")] == ["me", "m1", "w1.lab"]  # file order


def test_ansible_yaml_inventory_variable_precedence():
    inv = parse(ANSIBLE)
    # depth 1: alpha, k8s, zeta by name (zeta wins cni), then depth 2: masters.
    assert {k: inv.hosts["m1"].vars[k] for k in ("level", "cni", "etcd_name", "from_zeta",
                                                  "ntp")} == \
        {"level": "masters", "cni": "zeta", "etcd_name": "m1", "from_zeta": True,
         "ntp": "pool.ntp.org"}
    assert inv.hosts["w1.lab"].vars["level"] == "host"
    assert inv.hosts["me"].vars["level"] == "all"


@pytest.mark.parametrize("text, message", [
    ("groups: {a: {children: [b]}}", "group 'a' lists unknown child group 'b'"),
    ("groups: {a: {children: [b]}, b: {children: [c]}, c: {children: [a]}}",
     "group 'a' contains itself (a -> b -> c -> a)"),
    ("groups: {a: {children: b}}", "group 'a': children must be a list of names"),
    ("all: {children: {web: {hosts: {'www[01:50].lab': }}}}", "host ranges such as"),
    ("all: {children: {web: {host: {}}}}", "group 'web': unknown key 'host'"),
    ("all: {hosts: {h: {ansible_connection: winrm}}}", "connection must be ssh or local"),
])
def test_children_and_ansible_shape_errors(text, message):
    with pytest.raises(InventoryError) as err:
        parse(text, "inv.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)
