"""What particular kinds do: pods (binding, eviction, log, QoS), services (IP and port
allocation), events (two API versions, one store), leases, RBAC, HPA, jobs."""

from __future__ import annotations

NS = "/api/v1/namespaces/default"


def pod(name: str, labels: dict | None = None, resources: dict | None = None) -> dict:
    container = {"name": "c", "image": "nginx"}
    if resources:
        container["resources"] = resources
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"containers": [container]}}


def test_new_pods_are_pending_with_a_qos_class(api):
    p = api.post(f"{NS}/pods", pod("p")).json
    assert p["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert p["spec"]["serviceAccountName"] == "default" and p["spec"]["schedulerName"] == "default-scheduler"
    limits = {"cpu": "500m", "memory": "64Mi"}
    g = api.post(f"{NS}/pods", pod("g", resources={"limits": limits, "requests": limits})).json
    assert g["status"]["qosClass"] == "Guaranteed"
    b = api.post(f"{NS}/pods", pod("b", resources={"requests": {"cpu": "100m"}})).json
    assert b["status"]["qosClass"] == "Burstable"


def test_pod_spec_is_mostly_immutable(api):
    api.post(f"{NS}/pods", pod("imm"))
    r = api.patch(f"{NS}/pods/imm", {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}},
                  content_type="application/strategic-merge-patch+json")
    assert r.status_code == 200 and r.json["spec"]["containers"][0]["image"] == "nginx:2"
    r = api.patch(f"{NS}/pods/imm", {"spec": {"restartPolicy": "Never"}})
    assert r.status_code == 422 and "pod updates may not change fields" in r.json["message"]


def test_binding_assigns_a_node_once(api):
    api.post(f"{NS}/pods", pod("bind-me"))
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bind-me"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    r = api.post(f"{NS}/pods/bind-me/binding", binding)
    assert r.status_code == 201 and r.json["status"] == "Success"
    p = api.get(f"{NS}/pods/bind-me").json
    assert p["spec"]["nodeName"] == "node-1"
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in p["status"]["conditions"])
    r = api.post(f"{NS}/pods/bind-me/binding", binding)
    assert r.status_code == 409 and 'already assigned to node "node-1"' in r.json["message"]
    api.post(f"{NS}/pods", pod("bind-too"))
    r = api.post(f"{NS}/bindings", {**binding, "metadata": {"name": "bind-too"}})
    assert r.status_code == 201 and api.get(f"{NS}/pods/bind-too").json["spec"]["nodeName"] == "node-1"


def ready(api, name: str) -> None:
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    assert api.patch(f"{NS}/pods/{name}/status", {"status": status}).status_code == 200


def test_eviction_respects_disruption_budgets(api):
    for name in ("e1", "e2"):
        api.post(f"{NS}/pods", pod(name, {"app": "guarded"}))
        ready(api, name)
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guard"},
           "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}}}
    assert api.post("/apis/policy/v1/namespaces/default/poddisruptionbudgets", pdb).status_code == 201
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "e1", "namespace": "default"}}
    r = api.post(f"{NS}/pods/e1/eviction", eviction)
    assert r.status_code == 429 and r.json["reason"] == "TooManyRequests"
    assert r.json["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert r.json["details"]["causes"][0]["reason"] == "DisruptionBudget"
    api.patch("/apis/policy/v1/namespaces/default/poddisruptionbudgets/guard", {"spec": {"minAvailable": 1}})
    r = api.post(f"{NS}/pods/e1/eviction", eviction)
    assert r.status_code == 201 and api.get(f"{NS}/pods/e1").status_code == 404


def test_log_says_why_there_is_none(api):
    api.post(f"{NS}/pods", pod("quiet"))
    r = api.get(f"{NS}/pods/quiet/log")
    assert r.status_code == 400 and r.json["message"] == "pod quiet does not have a host assigned"
    api.post(f"{NS}/pods/quiet/binding", {"target": {"kind": "Node", "name": "n1"}})
    r = api.get(f"{NS}/pods/quiet/log?container=c")
    assert r.status_code == 400 and "no node agent runs" in r.json["message"]
    assert api.get(f"{NS}/pods/quiet/log?container=nope").status_code == 400


def test_services_get_unique_cluster_ips_and_node_ports(api):
    ips = set()
    for i in range(5):
        body = {"metadata": {"name": f"s{i}"}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}
        svc = api.post(f"{NS}/services", body).json
        assert svc["spec"]["clusterIP"] == svc["spec"]["clusterIPs"][0] and svc["spec"]["ports"][0]["targetPort"] == 80
        ips.add(svc["spec"]["clusterIP"])
    assert len(ips) == 5 and all(ip.startswith("10.") for ip in ips)
    body = {"metadata": {"name": "np"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    np = api.post(f"{NS}/services", body).json
    assert 30000 <= np["spec"]["ports"][0]["nodePort"] <= 32767
    taken = {"metadata": {"name": "np2"}, "spec": {"type": "NodePort", "ports": [
        {"port": 80, "nodePort": np["spec"]["ports"][0]["nodePort"]}]}}
    r = api.post(f"{NS}/services", taken)
    assert r.status_code == 422 and "provided port is already allocated" in r.json["message"]
    # An update that leaves out the allocated values keeps them (as kubectl apply relies on).
    r = api.put(f"{NS}/services/np", {"metadata": {"name": "np"},
                                       "spec": {"type": "NodePort", "ports": [{"port": 80}]}})
    assert r.json["spec"]["clusterIP"] == np["spec"]["clusterIP"]
    assert r.json["spec"]["ports"][0]["nodePort"] == np["spec"]["ports"][0]["nodePort"]
    # Deleting releases the port for others.
    api.delete(f"{NS}/services/np")
    assert api.post(f"{NS}/services", taken).status_code == 201


def test_headless_services_have_no_ip(api):
    body = {"metadata": {"name": "headless"}, "spec": {"clusterIP": "None", "selector": {"app": "x"}}}
    r = api.post(f"{NS}/services", body)
    assert r.status_code == 201 and r.json["spec"]["clusterIP"] == "None"


def test_events_in_both_api_versions(api):
    new_style = {
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
        "eventTime": "2026-11-22T10:00:00.000000Z", "reportingController": "example.com/ctl",
        "reportingInstance": "ctl-1", "action": "Scale", "reason": "Scaled", "type": "Normal",
        "note": "scaled up", "regarding": {"kind": "Deployment", "name": "web", "namespace": "default"},
    }
    r = api.post("/apis/events.k8s.io/v1/namespaces/default/events", new_style)
    assert r.status_code == 201, r.json
    assert r.json["note"] == "scaled up" and r.json["apiVersion"] == "events.k8s.io/v1"
    core = api.get(f"{NS}/events/e1").json
    assert core["message"] == "scaled up" and core["involvedObject"]["name"] == "web"
    assert core["reportingComponent"] == "example.com/ctl"
    found = api.get(f"{NS}/events?fieldSelector=involvedObject.name%3Dweb").json["items"]
    assert [e["metadata"]["name"] for e in found] == ["e1"]


def test_rbac_role_ref_is_immutable(api):
    path = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings"
    rb = {"metadata": {"name": "rb"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "a"},
          "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}]}
    assert api.post(path, rb).status_code == 201
    r = api.patch(f"{path}/rb", {"roleRef": {"name": "b"}})
    assert r.status_code == 422 and "cannot change roleRef" in r.json["message"]


def test_jobs_get_a_generated_selector(api):
    job = {"metadata": {"name": "pi"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}}}
    r = api.post("/apis/batch/v1/namespaces/default/jobs", job)
    assert r.status_code == 201, r.json
    uid = r.json["metadata"]["uid"]
    assert r.json["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert r.json["spec"]["template"]["metadata"]["labels"]["job-name"] == "pi"
    assert r.json["spec"]["backoffLimit"] == 6
    job["metadata"]["name"] = "bad"
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert api.post("/apis/batch/v1/namespaces/default/jobs", job).status_code == 422


def test_hpa_defaults_and_validation(api):
    path = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
    hpa = {"metadata": {"name": "h"}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                      "target": {"type": "Utilization", "averageUtilization": 50}}}]}}
    r = api.post(path, hpa)
    assert r.status_code == 201 and r.json["spec"]["minReplicas"] == 1
    hpa["metadata"]["name"] = "bad"
    hpa["spec"]["minReplicas"] = 7
    assert api.post(path, hpa).status_code == 422
