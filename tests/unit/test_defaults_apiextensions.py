"""CustomResourceDefinition defaults."""

from __future__ import annotations

from controlplane.api.defaults import apiextensions


def crd(**spec: object) -> dict:
    base = {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1alpha1", "served": True, "storage": False},
                         {"name": "v1", "served": True, "storage": True}]}
    base.update(spec)
    return {"metadata": {"name": "widgets.example.com"}, "spec": base}


def test_crd_defaults() -> None:
    obj = crd()
    apiextensions.default_crd(obj)
    assert obj["spec"]["names"] == {"plural": "widgets", "kind": "Widget", "singular": "widget",
                                    "listKind": "WidgetList"}
    assert obj["spec"]["conversion"] == {"strategy": "None"}
    assert obj["status"] == {"storedVersions": ["v1"]}


def test_given_names_and_conversion_are_kept() -> None:
    webhook = {"clientConfig": {"service": {"name": "conv", "namespace": "system"}},
               "conversionReviewVersions": ["v1"]}
    obj = crd(names={"plural": "widgets", "kind": "Widget", "singular": "wdgt", "listKind": "Widgets"},
              conversion={"strategy": "Webhook", "webhook": webhook})
    apiextensions.default_crd(obj)
    assert obj["spec"]["names"]["singular"] == "wdgt" and obj["spec"]["names"]["listKind"] == "Widgets"
    assert obj["spec"]["conversion"]["webhook"]["clientConfig"]["service"] == {
        "name": "conv", "namespace": "system", "port": 443}


def test_empty_conversion_is_not_filled_in() -> None:
    # Upstream defaults a missing conversion only; an empty one fails validation instead.
    obj = crd(conversion={})
    apiextensions.default_crd(obj)
    assert obj["spec"]["conversion"] == {}


def test_without_a_kind_nothing_is_derived() -> None:
    obj = crd(names={"plural": "widgets"})
    apiextensions.default_crd(obj)
    assert obj["spec"]["names"] == {"plural": "widgets"}


def test_stored_versions_accumulate() -> None:
    obj = crd()
    obj["status"] = {"storedVersions": ["v1alpha1"]}
    apiextensions.default_crd(obj)
    assert obj["status"]["storedVersions"] == ["v1alpha1", "v1"]
    apiextensions.default_crd(obj)
    assert obj["status"]["storedVersions"] == ["v1alpha1", "v1"]
