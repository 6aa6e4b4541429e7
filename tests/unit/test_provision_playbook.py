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
