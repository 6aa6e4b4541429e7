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
from provision.transport import RunResult

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


def counts6(recap, host):
    c = recap[host]
    return (c.ok, c.changed, c.failed, c.skipped, c.rescued, c.ignored)


# -- handlers: listen topics and meta: flush_handlers ---------------------------------------

def echoes(fake: FakeTransport) -> list[str]:
    return [c for c in fake.commands if c.startswith("echo ")]


def test_listen_topics_reach_every_listening_handler_once_in_handler_order():
    book = """
- hosts: m1
  gather_facts: false
  tasks:
    - {name: config, copy: {dest: /etc/a, content: x}, notify: [etcd config, restart db]}
    - {name: again, copy: {dest: /etc/b, content: y}, notify: etcd config}
  handlers:
    - {name: restart db, command: echo db}
    - {name: reload etcd, command: echo reload, listen: etcd config}
    - {name: check etcd, command: echo check, listen: [etcd config, other]}
    - {name: unrelated, command: echo never, listen: nobody}
"""
    recap, out, fakes = execute(book)
    assert echoes(fakes["m1"]) == ["echo db", "echo reload", "echo check"]
    order = [out.index(f"RUNNING HANDLER [{h}]") for h in ("restart db", "reload etcd",
                                                             "check etcd")]
    assert order == sorted(order) and "RUNNING HANDLER [unrelated]" not in out
    assert counts(recap, "m1") == (5, 5, 0, 0, 0)


def test_flush_handlers_runs_notified_handlers_at_that_point():
    book = """
- hosts: m1
  gather_facts: false
  tasks:
    - {name: unit, copy: {dest: /etc/u, content: a}, notify: bounce}
    - meta: flush_handlers
    - {name: after flush, command: echo after}
    - {name: unit 2, copy: {dest: /etc/u, content: b}, notify: bounce}
    - meta: flush_handlers
    - meta: flush_handlers
  handlers:
    - {name: bounce, command: echo bounced}
"""
    _, out, fakes = execute(book)
    assert echoes(fakes["m1"]) == ["echo bounced", "echo after", "echo bounced"]
    assert out.index("RUNNING HANDLER [bounce]") < out.index("TASK [after flush]")
    assert "TASK [meta" not in out


# -- block / rescue / always -------------------------------------------------------------

BLOCK = """
- hosts: masters
  gather_facts: false
  tasks:
    - name: guarded
      block:
        - {name: probe, command: probe}
        - {name: after probe, command: echo after-probe}
      rescue:
        - {name: recover, command: recover}
      always:
        - {name: cleanup, command: echo cleanup}
    - {name: next, command: echo next}
"""


def block_hosts(recover: RunResult | None = None) -> dict[str, FakeTransport]:
    m1 = linux_host("m1").on("probe", fail("probe: broken")).on("recover", recover or ok())
    return {"m1": m1,
            "m2": linux_host("m2").on("probe", ok())}


def test_rescue_runs_where_the_block_failed_and_the_host_goes_on():
    recap, out, fakes = execute(BLOCK, block_hosts())
    assert fakes["m1"].commands == ["probe", "recover", "echo cleanup", "echo next"]
    assert fakes["m2"].commands == ["probe", "echo after-probe", "echo cleanup", "echo next"]
    assert "failed: [m1] => non-zero return code 1: probe: broken" in out
    # The failure is the rescue's: counted as rescued, as Ansible's recap does.
    assert counts6(recap, "m1") == (3, 3, 0, 0, 1, 0)
    assert re.search(r"m1 +: .* failed=0 +skipped=0 +rescued=1 +ignored=0", out)
    assert counts6(recap, "m2") == (4, 4, 0, 0, 0, 0)


def test_a_failing_rescue_fails_the_host_after_always():
    recap, _, fakes = execute(BLOCK, block_hosts(recover=fail("still broken")))
    assert fakes["m1"].commands == ["probe", "recover", "echo cleanup"]
    assert counts6(recap, "m1") == (1, 1, 1, 0, 1, 0)


def test_always_runs_on_a_host_that_failed_without_rescue_then_it_stops():
    book = BLOCK.replace("      rescue:\n        - {name: recover, command: recover}\n", "")
    recap, _, fakes = execute(book, block_hosts())
    assert fakes["m1"].commands == ["probe", "echo cleanup"]
    assert counts6(recap, "m1") == (1, 1, 1, 0, 0, 0)
    assert "echo next" in fakes["m2"].commands


def test_nested_block_failure_goes_to_the_outer_rescue():
    book = """
- hosts: m1
  gather_facts: false
  tasks:
    - block:
        - block:
            - {name: probe, command: probe}
          always:
            - {name: inner always, command: echo inner}
      rescue:
        - {name: outer rescue, command: echo outer}
    - {name: next, command: echo next}
"""
    recap, _, fakes = execute(book, block_hosts())
    assert fakes["m1"].commands == ["probe", "echo inner", "echo outer", "echo next"]
    assert recap["m1"].rescued == 1 and recap["m1"].failed == 0


def test_block_passes_when_become_tags_and_vars_to_its_tasks():
    book = """
- hosts: all
  gather_facts: false
  tasks:
    - name: masters only
      when: role == 'master'
      become: true
      tags: [setup]
      vars: {greeting: hello, dir: /srv}
      block:
        - {name: say, command: "echo {{ greeting }} {{ inventory_hostname }}"}
        - {name: said, command: "echo {{ path }}", vars: {path: "{{ dir }}/x"}, become: false}
      rescue:
        - {name: never, command: echo never}
    - {name: untagged, command: echo untagged}
"""
    recap, out, fakes = execute(book, tags={"setup"})
    assert [(c.arg, c.sudo) for c in fakes["m1"].calls if c.verb == "run"] == [
        ("echo hello m1", True), ("echo /srv/x", False)]
    assert fakes["w1"].commands == [] and counts(recap, "w1") == (0, 0, 0, 2, 0)
    assert "TASK [untagged]" not in out


# -- include_tasks and roles (files on disk, next to the playbook) -------------------------

def write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def execute_files(tmp_path, files: dict[str, str], fakes=None, **options):
    from provision.playbook import load

    write(tmp_path, files)
    fakes = fakes if fakes is not None else {}
    for name in ("m1", "m2", "w1"):
        fakes.setdefault(name, linux_host(name, dirs={"/", "/etc", "/tmp", "/srv"}))
    out = io.StringIO()
    ex = Executor(parse_inventory(INVENTORY), Options(**options),
                  connect=lambda h: fakes[h.name], out=out)
    recap = ex.run(load(tmp_path / "site.yml"))
    return recap, out.getvalue(), fakes


def test_include_tasks_reads_a_file_with_vars_and_when(tmp_path):
    files = {
        "site.yml": """
- hosts: all
  gather_facts: false
  tasks:
    - include_tasks: tasks/motd.yml
      vars: {who: "{{ inventory_hostname }}"}
      when: role == 'master'
""",
        "tasks/motd.yml": """
- {name: motd, copy: {dest: /etc/motd, content: "hi {{ who }}\\n"}}
- include_tasks: more.yml
""",
        "tasks/more.yml": "- {name: more, command: 'echo more {{ who }}'}\n",
    }
    recap, _, fakes = execute_files(tmp_path, files)
    assert fakes["m2"].text("/etc/motd") == "hi m2\n"
    assert fakes["m2"].commands[-1] == "echo more m2"
    assert "/etc/motd" not in fakes["w1"].files and counts(recap, "w1") == (0, 0, 0, 2, 0)


ROLE = {
    "site.yml": """
- hosts: masters
  gather_facts: false
  roles:
    - etcd
    - {role: etcd, vars: {etcd_port: 2400}, when: inventory_hostname == 'm1'}
  tasks:
    - {name: play task, command: "echo play {{ etcd_port | default('none') }}"}
""",
    "roles/etcd/defaults/main.yml": "etcd_port: 2379\netcd_name: \"{{ role }}-{{ etcd_port }}\"\n",
    "roles/etcd/tasks/main.yml": """
- {name: config, template: {src: etcd.conf.j2, dest: "/srv/etcd-{{ etcd_port }}.conf"},
   notify: restart etcd}
- {name: script, copy: {src: check.sh, dest: /srv/check.sh}}
""",
    "roles/etcd/templates/etcd.conf.j2": "name={{ etcd_name }} port={{ etcd_port }}\n",
    "roles/etcd/files/check.sh": "#!/bin/sh\n",
    "roles/etcd/handlers/main.yml": "- {name: restart etcd, command: echo restart}\n",
    "check.sh": "the playbook's own file: the role's comes first\n",
}


def test_roles_bring_tasks_handlers_defaults_templates_and_files(tmp_path):
    _, out, fakes = execute_files(tmp_path, ROLE)
    m1, m2 = fakes["m1"], fakes["m2"]
    # defaults are the weakest: role params win, and defaults may use other variables.
    assert m1.text("/srv/etcd-2379.conf") == "name=master-2379 port=2379\n"
    assert m1.text("/srv/etcd-2400.conf") == "name=master-2400 port=2400\n"
    assert "/srv/etcd-2400.conf" not in m2.files  # the role's when
    assert m1.text("/srv/check.sh") == "#!/bin/sh\n"
    assert m1.commands[-2:] == ["echo play none", "echo restart"]  # defaults stay in the role
    assert out.index("TASK [config]") < out.index("TASK [play task]")


def test_role_defaults_lose_to_inventory_variables(tmp_path):
    files = {**ROLE, "roles/etcd/defaults/main.yml": "etcd_port: 2379\nrole: from-default\n",
             "roles/etcd/templates/etcd.conf.j2": "{{ role }}\n"}
    _, _, fakes = execute_files(tmp_path, files)
    assert fakes["m1"].text("/srv/etcd-2379.conf") == "master\n"


def test_a_task_that_tries_to_leave_the_network_is_told_so_under_its_name():
    w1 = linux_host("w1")
    w1.on("apt-get update", fail("W: Failed to fetch http://deb.debian.org/...  Temporary failure resolving "
                                 "'deb.debian.org'", 100))
    _, out, _ = execute("""
- name: p
  hosts: w1
  tasks:
    - {name: refresh the package lists, command: apt-get update}
""", {"w1": w1})
    failed = out.split("TASK [refresh the package lists]")[1]
    assert "failed: [w1]" in failed and "Temporary failure resolving" in failed
    assert "tried to reach beyond the hosts' network" in failed
