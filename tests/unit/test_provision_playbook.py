"""Playbook parsing: the shape that runs, and the mistakes caught before any host is touched."""

from __future__ import annotations

import pytest

from provision.playbook import PlaybookError, load, parse

GOOD = """
- name: base
  hosts: masters
  become: true
  vars: {a: 1}
  tags: [base]
  tasks:
    - name: say
      command: echo hi
      when: a == 1
      loop: [x, y]
      notify: done
      tags: one
    - copy: {dest: /etc/x, content: "{{ a }}"}
  handlers:
    - name: done
      command: "true"
"""


def test_parse_plays_tasks_and_handlers(tmp_path):
    (tmp_path / "site.yml").write_text(GOOD)
    book = load(tmp_path / "site.yml")
    assert book.base_dir == tmp_path
    play = book.plays[0]
    assert (play.name, play.hosts, play.become, play.vars) == ("base", "masters", True, {"a": 1})
    say, copy = play.tasks
    assert (say.module, say.args, say.when, say.loop) == \
        ("command", {"cmd": "echo hi"}, "a == 1", ["x", "y"])
    assert say.notify == ["done"] and say.tags == {"one", "base"}
    assert copy.name == "copy" and copy.tags == {"base"}
    assert play.handlers[0].name == "done"


@pytest.mark.parametrize("text, message", [
    ("- hosts: all\n  tasks: [{name: t, cpy: {dest: /x}}]", "unknown module 'cpy'"),
    ("- hosts: all\n  tasks: [{name: t, copy: {dest: /x, content: a, owner: r, grp: g}}]",
     "task 1 (t): copy: unknown argument 'grp'"),
    ("- hosts: all\n  tasks: [{name: t, file: {state: directory}}]",
     "file: missing required argument 'path'"),
    ("- hosts: all\n  tasks: [{name: t, command: ls, file: {path: /x}}]", "more than one module"),
    ("- hosts: all\n  tasks: [{name: t}]", "no module given"),
    ("- tasks: []", "play 1: missing 'hosts'"),
    ("- hosts: all\n  tasks: [{command: ls, notify: nobody}]", "unknown handler 'nobody'"),
    ("- hosts: all\n  taks: []", "unknown play key 'taks'"),
    ("- hosts: all\n  tasks: {command: ls}", "tasks must be a list"),
    ("{}", "non-empty list of plays"),
    ("- hosts: [all\n", "bad YAML at line"),
])
def test_errors_name_the_play_and_task(text, message):
    with pytest.raises(PlaybookError) as err:
        parse(text, "site.yml")
    assert message in str(err.value) and str(err.value).startswith("site.yml")


# -- blocks, includes, roles, listen, meta ------------------------------------------------

def test_blocks_pass_their_settings_down_inside_out():
    book = parse("""
- hosts: all
  tags: [play]
  tasks:
    - when: outer
      vars: {a: 1}
      become: true
      block:
        - when: inner
          tags: [inner]
          vars: {b: 2}
          block:
            - {name: t, command: ls, when: own, vars: {c: 3}, become: false}
          rescue:
            - {name: r, command: ls}
      always:
        - meta: flush_handlers
""")
    block = book.plays[0].tasks[0]
    t, r, flush = book.plays[0].all_tasks()
    assert (t.when, t.scope_vars, t.vars, t.become, t.tags) == (
        ["outer", "inner", "own"], [{"a": 1}, {"b": 2}], {"c": 3}, False, {"play", "inner"})
    assert (r.when, r.become, r.tags) == (["outer", "inner"], True, {"play", "inner"})
    assert (flush.module, flush.args) == ("meta", {"action": "flush_handlers"})
    assert block.always == [flush]


def test_include_tasks_is_read_at_load_time_relative_to_the_including_file(tmp_path):
    (tmp_path / "tasks").mkdir()
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n  tasks:\n    - {include_tasks: tasks/a.yml, vars: {x: 1}, tags: t}\n")
    (tmp_path / "tasks" / "a.yml").write_text("- import_tasks: b.yml\n- {name: a, command: ls}\n")
    (tmp_path / "tasks" / "b.yml").write_text("- {name: b, command: ls}\n")
    play = load(tmp_path / "site.yml").plays[0]
    assert [(t.name, t.scope_vars, t.tags) for t in play.all_tasks()] == [
        ("b", [{"x": 1}], {"t"}), ("a", [{"x": 1}], {"t"})]


def test_roles_load_tasks_handlers_defaults_and_vars(tmp_path):
    role = tmp_path / "roles" / "web"
    for sub, text in {"tasks": "- {name: page, template: {src: p.j2, dest: /p}, notify: up}\n",
                      "handlers": "- {name: reload web, command: ls, listen: up}\n",
                      "defaults": "port: 80\n", "vars": "user: www\n"}.items():
        (role / sub).mkdir(parents=True)
        (role / sub / "main.yml").write_text(text)
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n  roles: [{role: web, port: 8080, tags: web}]\n"
        "  tasks: [{name: own, command: ls}]\n")
    play = load(tmp_path / "site.yml").plays[0]
    page, own = play.all_tasks()
    assert (page.defaults, page.scope_vars, page.role_dir, page.tags) == (
        {"port": 80}, [{"user": "www", "port": 8080}], role, {"web"})
    assert (own.role_dir, own.defaults) == (None, {})
    assert [(h.name, h.listen, h.role_dir) for h in play.handlers] == [
        ("reload web", ["up"], role)]


@pytest.mark.parametrize("files, message", [
    ({"site.yml": "- hosts: all\n  tasks: [{command: ls, listen: x}]"},
     "task 1: only handlers take 'listen'"),
    ({"site.yml": "- hosts: all\n  tasks: [{meta: end_play}]"},
     "meta: 'end_play' is not supported (only flush_handlers)"),
    ({"site.yml": "- hosts: all\n  handlers: [{block: [{command: ls}]}]"},
     "handler 1: a handler is one module task"),
    ({"site.yml": "- hosts: all\n  tasks: [{block: [], rescue: [{command: ls}]}]"},
     "a block needs at least one task"),
    ({"site.yml": "- hosts: all\n  tasks: [{block: [{command: ls}], loop: [1]}]"},
     "task 1: unknown key 'loop' here"),
    ({"site.yml": "- hosts: all\n  tasks: [{command: ls, notify: up}]\n"
                  "  handlers: [{name: h, command: ls, listen: down}]"},
     "notifies unknown handler 'up' (no handler has that name or listens to it)"),
    ({"site.yml": "- hosts: all\n  tasks: [{include_tasks: nope.yml}]"},
     "include_tasks: no file nope.yml"),
    ({"site.yml": "- hosts: all\n  tasks: [{include_tasks: '{{ os }}.yml'}]"},
     "no templating"),
    ({"site.yml": "- hosts: all\n  tasks: [{include_tasks: a.yml}]",
      "a.yml": "- include_tasks: b.yml\n", "b.yml": "- include_tasks: a.yml\n"},
     "b.yml task 1: include_tasks: a.yml includes itself (a.yml -> b.yml -> a.yml)"),
    ({"site.yml": "- hosts: all\n  tasks: [{include_tasks: a.yml}]",
      "a.yml": "- {name: t, cmd: ls}\n"}, "a.yml task 1 (t): unknown module 'cmd'"),
    ({"site.yml": "- hosts: all\n  roles: [db]"}, "role 1 (db): role 'db' not found"),
    ({"site.yml": "- hosts: all\n  roles: [db]", "roles/db/meta/main.yml": "dependencies: [x]"},
     "role dependencies (meta/main.yml) are not supported"),
    ({"site.yml": "- hosts: all\n  roles: [db]", "roles/db/tasks/main.yml": "- {copy: 1}"},
     "roles/db/tasks/main.yml task 1: copy: arguments must be a mapping"),
])
def test_blocks_includes_and_roles_errors(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with pytest.raises(PlaybookError) as err:
        load(tmp_path / "site.yml")
    assert message in str(err.value) and "\n" not in str(err.value)
