"""Volume files: the atomic ..data swap, and what each volume type writes."""

from __future__ import annotations

import base64
import os
import stat
import threading

import pytest

from controlplane.client import resources as r
from controlplane.client.fake import FakeClient
from nodeagent.atomicwriter import DATA, FileProjection, PayloadError, write_payload
from nodeagent.objects import ClientSource
from nodeagent.volumes import Mount, MountError, PodVolumes, host_path


def payload(**files: str) -> dict[str, FileProjection]:
    return {k.replace("__", "/"): FileProjection(v.encode()) for k, v in files.items()}


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def test_first_write_creates_a_timestamped_dir_the_data_link_and_user_links(tmp_path):
    target = str(tmp_path / "vol")
    assert write_payload(target, payload(a="1", b="2", sub__c="3"))
    entries = sorted(os.listdir(target))
    stamped = [e for e in entries if e.startswith("..") and e not in (DATA,)]
    assert len(stamped) == 1 and stamped[0].startswith("..20")
    assert os.readlink(os.path.join(target, DATA)) == stamped[0]
    assert os.readlink(os.path.join(target, "a")) == "..data/a"
    assert os.readlink(os.path.join(target, "sub")) == "..data/sub"
    assert read(os.path.join(target, "sub", "c")) == "3"
    assert sorted(e for e in entries if not e.startswith("..")) == ["a", "b", "sub"]


def test_same_content_changes_nothing(tmp_path):
    target = str(tmp_path / "vol")
    write_payload(target, payload(a="1"))
    before = os.readlink(os.path.join(target, DATA))
    assert not write_payload(target, payload(a="1"))
    assert os.readlink(os.path.join(target, DATA)) == before


def test_update_swaps_data_removes_old_dir_and_vanished_keys(tmp_path):
    target = str(tmp_path / "vol")
    write_payload(target, payload(a="1", b="2"))
    old = os.readlink(os.path.join(target, DATA))
    assert write_payload(target, payload(a="changed", c="new"))
    new = os.readlink(os.path.join(target, DATA))
    assert new != old and not os.path.exists(os.path.join(target, old))
    assert read(os.path.join(target, "a")) == "changed"
    assert read(os.path.join(target, "c")) == "new"
    assert not os.path.lexists(os.path.join(target, "b"))
    assert not os.path.lexists(os.path.join(target, "..data_tmp"))


def test_modes_are_applied(tmp_path):
    target = str(tmp_path / "vol")
    write_payload(target, {"key": FileProjection(b"x", 0o400)})
    assert stat.S_IMODE(os.stat(os.path.join(target, "key")).st_mode) == 0o400


@pytest.mark.parametrize("path", ["/abs", "../up", "a/../b", "..hidden", ""])
def test_unsafe_paths_are_refused(tmp_path, path):
    with pytest.raises(PayloadError):
        write_payload(str(tmp_path / "vol"), {path: FileProjection(b"x")})


def test_a_reader_never_sees_half_an_update(tmp_path):
    """Two keys that always change together must always be read together."""
    target = str(tmp_path / "vol")
    write_payload(target, payload(first="0", second="0"))
    stop, torn, reads = threading.Event(), [], [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                # Resolve ..data once, as a program holding the directory open would.
                current = os.path.join(target, os.readlink(os.path.join(target, DATA)))
                a, b = read(os.path.join(current, "first")), read(os.path.join(current, "second"))
            except FileNotFoundError:
                continue  # the old directory was removed after we resolved it: a retry, not a tear
            reads[0] += 1
            if a != b:
                torn.append((a, b))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(1, 200):
        write_payload(target, payload(first=str(i), second=str(i)))
    stop.set()
    t.join()
    assert reads[0] > 0 and not torn


@pytest.fixture
def source():
    client = FakeClient()
    client.seed(r.CONFIGMAPS, {"metadata": {"name": "game", "namespace": "ns"},
                               "data": {"game.properties": "lives=3\n", "ui.properties": "color=blue\n"},
                               "binaryData": {"logo.bin": base64.b64encode(b"\x00\x01").decode()}})
    client.seed(r.SECRETS, {"metadata": {"name": "db", "namespace": "ns"},
                            "data": {"password": base64.b64encode(b"s3cret").decode()}})
    return client


def make_pod(volumes, labels=None):
    return {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": labels or {"app": "web", "tier": "fe"}},
            "spec": {"volumes": volumes, "containers": [{"name": "c", "resources": {"limits": {"memory": "128Mi"}}}]}}


def test_config_map_secret_downward_api_and_projected_volumes(tmp_path, source):
    vols = PodVolumes(str(tmp_path / "pod"), ClientSource(source))
    paths = vols.setup(make_pod([
        {"name": "cfg", "configMap": {"name": "game"}},
        {"name": "some", "configMap": {"name": "game", "items": [{"key": "ui.properties", "path": "ui/conf", "mode": 0o600}]}},
        {"name": "sec", "secret": {"secretName": "db", "defaultMode": 0o440}},
        {"name": "info", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}]}},
        {"name": "all", "projected": {"sources": [{"configMap": {"name": "game", "items": [{"key": "game.properties", "path": "g"}]}},
                                                  {"secret": {"name": "db"}},
                                                  {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}},
        {"name": "scratch", "emptyDir": {}},
    ]))
    assert paths["cfg"].endswith("volumes/kubernetes.io~configmap/cfg")
    assert read(os.path.join(paths["cfg"], "game.properties")) == "lives=3\n"
    with open(os.path.join(paths["cfg"], "logo.bin"), "rb") as f:
        assert f.read() == b"\x00\x01"
    assert sorted(e for e in os.listdir(paths["some"]) if not e.startswith("..")) == ["ui"]
    assert stat.S_IMODE(os.stat(os.path.join(paths["some"], "ui", "conf")).st_mode) == 0o600
    assert read(os.path.join(paths["sec"], "password")) == "s3cret"
    assert stat.S_IMODE(os.stat(os.path.join(paths["sec"], "password")).st_mode) == 0o440
    assert read(os.path.join(paths["info"], "labels")) == 'app="web"\ntier="fe"'
    assert read(os.path.join(paths["info"], "name")) == "p"
    assert read(os.path.join(paths["info"], "mem")) == "128"
    assert {e for e in os.listdir(paths["all"]) if not e.startswith("..")} == {"g", "password", "ns"}
    assert os.path.isdir(paths["scratch"])


def test_config_map_edits_reach_the_volume_on_the_next_setup(tmp_path, source):
    vols = PodVolumes(str(tmp_path / "pod"), ClientSource(source))
    pod = make_pod([{"name": "cfg", "configMap": {"name": "game"}}])
    path = vols.setup(pod)["cfg"]
    source.patch(r.CONFIGMAPS, "game", {"data": {"game.properties": "lives=9\n", "ui.properties": None}}, "ns")
    vols.setup(pod)
    assert read(os.path.join(path, "game.properties")) == "lives=9\n"
    assert not os.path.lexists(os.path.join(path, "ui.properties"))


def test_downward_labels_follow_label_changes(tmp_path, source):
    vols = PodVolumes(str(tmp_path / "pod"), ClientSource(source))
    items = [{"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]
    path = vols.setup(make_pod(items))["info"]
    vols.setup(make_pod(items, labels={"app": "web", "version": "2"}))
    assert read(os.path.join(path, "labels")) == 'app="web"\nversion="2"'


@pytest.mark.parametrize("volume, message", [
    ({"name": "cfg", "configMap": {"name": "nope"}},
     'MountVolume.SetUp failed for volume "cfg" : configmap "nope" not found'),
    ({"name": "sec", "secret": {"secretName": "nope"}},
     'MountVolume.SetUp failed for volume "sec" : secret "nope" not found'),
    ({"name": "cfg", "configMap": {"name": "game", "items": [{"key": "missing", "path": "x"}]}},
     'MountVolume.SetUp failed for volume "cfg" : configmap references non-existent config key: missing'),
    ({"name": "claim", "persistentVolumeClaim": {"claimName": "data"}},
     'MountVolume.SetUp failed for volume "claim" : persistentVolumeClaim volumes are not supported'),
])
def test_setup_failures_carry_upstream_messages(tmp_path, source, volume, message):
    with pytest.raises(MountError) as e:
        PodVolumes(str(tmp_path / "pod"), ClientSource(source)).setup(make_pod([volume]))
    assert str(e.value).startswith(message)


def test_optional_missing_config_map_gives_an_empty_volume(tmp_path, source):
    vols = PodVolumes(str(tmp_path / "pod"), ClientSource(source))
    path = vols.setup(make_pod([{"name": "cfg", "configMap": {"name": "nope", "optional": True}}]))["cfg"]
    assert [e for e in os.listdir(path) if not e.startswith("..")] == []


def test_mounts_with_sub_path_and_read_only(tmp_path, source):
    vols = PodVolumes(str(tmp_path / "pod"), ClientSource(source))
    paths = vols.setup(make_pod([{"name": "cfg", "configMap": {"name": "game"}}, {"name": "data", "emptyDir": {}}]))
    mounts = vols.mounts({"volumeMounts": [
        {"name": "cfg", "mountPath": "/etc/game", "readOnly": True},
        {"name": "cfg", "mountPath": "/etc/game.properties", "subPath": "game.properties"},
        {"name": "data", "mountPath": "/data/logs", "subPathExpr": "$(POD)/logs"},
    ]}, {"POD": "p"})
    assert mounts[0] == Mount(paths["cfg"], "/etc/game", True)
    assert mounts[1].source == os.path.realpath(os.path.join(paths["cfg"], "game.properties"))
    assert mounts[2].source == os.path.join(paths["data"], "p", "logs") and os.path.isdir(mounts[2].source)
    with pytest.raises(MountError):
        vols.mounts({"volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "../escape"}]}, {})


def test_host_path_types(tmp_path):
    d, f = tmp_path / "made", tmp_path / "made-file"
    assert host_path({"path": str(d), "type": "DirectoryOrCreate"}) == str(d) and d.is_dir()
    assert host_path({"path": str(f), "type": "FileOrCreate"}) == str(f) and f.is_file()
    assert host_path({"path": str(d), "type": "Directory"}) == str(d)
    with pytest.raises(MountError, match="is not a directory"):
        host_path({"path": str(f), "type": "Directory"})
    with pytest.raises(MountError, match="is not a file"):
        host_path({"path": str(tmp_path / "absent"), "type": "File"})


def test_teardown_removes_the_volumes_but_never_a_host_path(tmp_path, source):
    keep = tmp_path / "host"
    keep.mkdir()
    (keep / "precious").write_text("x")
    vols = PodVolumes(str(tmp_path / "pod"), ClientSource(source))
    vols.setup(make_pod([{"name": "cfg", "configMap": {"name": "game"}}, {"name": "h", "hostPath": {"path": str(keep)}}]))
    vols.teardown()
    assert not (tmp_path / "pod" / "volumes").exists()
    assert (keep / "precious").read_text() == "x"
