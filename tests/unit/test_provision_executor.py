"""The executor end to end on fake hosts: output, recap, JSON log, when/loop/notify/tags/limit,
failing and unreachable hosts, check mode, facts and daemon-reload tracking."""

from __future__ import annotations

import io
import json
import re

from provision.executor import Executor, Options
from provision.fake import FakeTransport, fail, linux_host, ok
from provision.inventory import parse as parse_inventory
from provision.playbook import parse as parse_playbook

INVENTORY = """
hosts:
  m1: {address: 10.0.0.11}
  m2: {address: 10.0.0.12}
  w1: {address: 10.0.0.21, vars: {role: worker}}
groups:
  masters: {hosts: [m1, m2], vars: {role: master}}
  workers: {hosts: [w1]}
"""


def execute(playbook: str, fakes: dict[str, FakeTransport] | None = None, **options):
    fakes = fakes if fakes is not None else {}
    for name in ("m1", "m2", "w1"):
        fakes.setdefault(name, linux_host(name))
    out = io.StringIO()
    ex = Executor(parse_inventory(INVENTORY), Options(**options),
                  connect=lambda h: fakes[h.name], out=out)
    recap = ex.run(parse_playbook(playbook))
    return recap, out.getvalue(), fakes


def counts(recap, host):
    c = recap[host]
    return (c.ok, c.changed, c.failed, c.skipped, c.unreachable)


COPY = """
- name: config
  hosts: all
  tasks:
    - name: write motd
      copy: {dest: /etc/motd, content: "role {{ role }} on {{ inventory_hostname }}\\n"}
"""


def test_output_reads_like_ansible_and_second_run_is_ok():
    recap, out, fakes = execute(COPY)
    assert "PLAY [config] ****" in out and "TASK [Gathering Facts]" in out
    assert "TASK [write motd]" in out
    assert re.search(r"changed: \[m1\]\nchanged: \[m2\]\nchanged: \[w1\]", out)
    assert fakes["w1"].text("/etc/motd") == "role worker on w1\n"
    assert fakes["m1"].text("/etc/motd") == "role master on m1\n"
    assert re.search(r"m1 +: ok=2 +changed=1 +unreachable=0 +failed=0 +skipped=0", out)
    recap, out, _ = execute(COPY, fakes)
    assert "ok: [m1]" in out and counts(recap, "m1") == (2, 0, 0, 0, 0)


def test_check_mode_changes_nothing_and_diff_is_shown_on_request():
    recap, out, fakes = execute(COPY, check=True, diff=True)
    assert counts(recap, "m1") == (2, 1, 0, 0, 0)
    assert "/etc/motd" not in fakes["m1"].files
    assert "+role master on m1" in out
    _, quiet, _ = execute(COPY)
    assert "+role" not in quiet


def test_facts_are_gathered_and_usable_in_when():
    book = """
- hosts: all
  tasks:
    - name: only ubuntu masters
      command: echo {{ facts.os_id }} {{ facts.cpus }} {{ facts.memory_mb }}
      when: [facts.os_id == 'ubuntu', "role == 'master'"]
      register: said
    - name: echo back
      copy: {dest: /tmp/said, content: "{{ said.stdout }}"}
      when: not said.skipped
"""
    fakes = {"m2": linux_host("m2")}
    fakes["m2"].files["/etc/os-release"] = b"ID=debian\n"
    recap, out, fakes = execute(book, fakes)
    assert "changed: [m1]\nskipping: [m2]\nskipping: [w1]" in out
    assert fakes["m1"].text("/tmp/said") == "ubuntu 2 2000\n"
    assert counts(recap, "w1") == (1, 0, 0, 2, 0)


def test_loop_runs_once_per_item():
    book = """
- hosts: m1
  vars: {dirs: [/srv/a, /srv/b]}
  tasks:
    - name: dirs
      file: {path: "{{ item }}", state: directory}
      loop: "{{ dirs }}"
"""
    _, out, fakes = execute(book)
    assert "changed: [m1] => (item=/srv/a)\nchanged: [m1] => (item=/srv/b)" in out
    assert {"/srv/a", "/srv/b"} <= fakes["m1"].dirs
    _, out, _ = execute(book, fakes)
    assert "ok: [m1] => (item=/srv/a)" in out


def test_handlers_run_once_at_the_end_only_where_notified():
    book = """
- hosts: masters
  tasks:
    - {name: a, copy: {dest: /etc/a, content: "{{ inventory_hostname }}"}, notify: bounce}
    - {name: b, copy: {dest: /etc/b, content: x}, notify: bounce}
    - {name: last, command: echo last}
  handlers:
    - {name: bounce, command: echo bounced}
"""
    fakes = {"m2": linux_host("m2")}
    fakes["m2"].files.update({"/etc/a": b"m2", "/etc/b": b"x"})  # m2 needs no change
    _, out, fakes = execute(book, fakes)
    assert out.index("RUNNING HANDLER [bounce]") > out.index("TASK [last]")
    assert fakes["m1"].commands.count("echo bounced") == 1
    assert "echo bounced" not in fakes["m2"].commands


def test_a_failing_host_stops_alone_and_the_recap_counts_it():
    book = """
- hosts: all
  tasks:
    - {name: probe, command: probe}
    - {name: after, command: echo after}
"""
    fakes = {n: linux_host(n).on("probe", ok()) for n in ("m1", "w1")}
    fakes["m2"] = linux_host("m2").on("probe", fail("disk full", 1))
    recap, out, fakes = execute(book, fakes)
    assert "failed: [m2] => non-zero return code 1: disk full" in out
    assert "echo after" in fakes["m1"].commands and "echo after" not in fakes["m2"].commands
    assert counts(recap, "m2") == (1, 0, 1, 0, 0)
    assert counts(recap, "w1") == (3, 2, 0, 0, 0)


def test_unreachable_host_is_reported_not_raised():
    recap, out, _ = execute(COPY, {"w1": FakeTransport(host="w1", unreachable=True)})
    assert "unreachable: [w1] => w1: connection refused" in out
    assert counts(recap, "w1") == (0, 0, 0, 0, 1)
    assert counts(recap, "m1") == (2, 1, 0, 0, 0)


def test_connect_errors_are_unreachable_too():
    out = io.StringIO()

    def connect(host):
        raise OSError("no route to host")

    recap = Executor(parse_inventory(INVENTORY), connect=connect, out=out).run(
        parse_playbook(COPY))
    assert recap["m1"].unreachable == 1 and "no route to host" in out.getvalue()


def test_tags_and_limit_select_tasks_and_hosts():
    book = """
- hosts: all
  gather_facts: false
  tasks:
    - {name: one, command: echo one, tags: [t1]}
    - {name: two, command: echo two, tags: [t2]}
    - {name: always, command: echo always, tags: [always]}
"""
    recap, out, fakes = execute(book, tags={"t2"}, limit=["masters"])
    assert "TASK [one]" not in out and "TASK [two]" in out and "TASK [always]" in out
    assert fakes["m1"].commands == ["echo two", "echo always"]
    assert fakes["w1"].calls == [] and "w1" not in recap
    _, out, _ = execute(book, skip_tags={"t1"})
    assert "TASK [one]" not in out and "TASK [two]" in out


def test_become_wraps_commands_in_sudo():
    book = """
- hosts: m1
  gather_facts: false
  become: true
  tasks:
    - {name: root, command: whoami}
    - {name: not root, command: id, become: false}
"""
    fake = linux_host("m1").on("whoami", ok("root\n")).on("id", ok("uid=1000\n"))
    _, _, fakes = execute(book, {"m1": fake})
    sudo = {c.arg: c.sudo for c in fakes["m1"].calls if c.verb == "run"}
    assert sudo == {"whoami": True, "id": False}


def test_template_errors_fail_the_host_with_the_variable_name():
    book = "- hosts: m1\n  tasks: [{name: t, command: 'echo {{ nope }}'}]\n"
    recap, out, _ = execute(book)
    assert "failed: [m1] => cannot render 'echo {{ nope }}': 'nope' is undefined" in out
    assert recap["m1"].failed == 1


def test_daemon_reload_follows_unit_file_changes():
    book = """
- hosts: m1
  tasks:
    - name: unit
      copy: {dest: /etc/systemd/system/etcd.service, content: "[Service]\\n"}
    - name: start
      systemd: {name: etcd.service, state: started, daemon_reload: true}
"""
    fake = linux_host("m1", dirs={"/", "/etc", "/tmp", "/etc/systemd/system"})
    fake.on(re.compile(r"^systemctl show"), ok("LoadState=loaded\nActiveState=active\n"))
    fake.on("systemctl daemon-reload", ok())
    execute(book, {"m1": fake})
    assert fake.commands.count("systemctl daemon-reload") == 1
    execute(book, {"m1": fake})  # the unit file did not change: no reload
    assert fake.commands.count("systemctl daemon-reload") == 1


def test_json_log_lists_every_task_on_every_host(tmp_path):
    log = tmp_path / "run.json"
    execute(COPY, {"w1": FakeTransport(host="w1", unreachable=True)}, log_path=log)
    entries = json.loads(log.read_text())
    rows = [(e["task"], e["host"], e["status"]) for e in entries]
    assert rows == [
        ("Gathering Facts", "m1", "ok"), ("Gathering Facts", "m2", "ok"),
        ("Gathering Facts", "w1", "unreachable"),
        ("write motd", "m1", "changed"), ("write motd", "m2", "changed"),
    ]
    assert entries[3]["play"] == "config" and "+role master" in entries[3]["diff"]
