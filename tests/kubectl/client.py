"""The Python `kubernetes` client against Skiff's REST API (run by tests/kubectl/python.rs
with KUBECONFIG set): CRUD, lists in pages, each patch type, watches (with a timeout,
and the watch-list protocol) and ApiException codes. Exits non-zero on the first
failed check."""

import datetime
import os
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(os.environ["KUBECONFIG"])
v1 = client.CoreV1Api()
apps = client.AppsV1Api()
NS = "default"


def check(cond, what):
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def status_of(call):
    try:
        call()
    except ApiException as e:
        return e.status, e.reason, e.body
    return None, None, None


# CRUD.
cm = client.V1ConfigMap(
    metadata=client.V1ObjectMeta(name="py-one", labels={"from": "python"}),
    data={"a": "1"},
)
created = v1.create_namespaced_config_map(NS, cm)
check(created.metadata.uid and created.data == {"a": "1"}, "create answers the stored object")
got = v1.read_namespaced_config_map("py-one", NS)
check(got.metadata.resource_version == created.metadata.resource_version, "read")
got.data["b"] = "2"
replaced = v1.replace_namespaced_config_map("py-one", NS, got)
check(replaced.data == {"a": "1", "b": "2"}, "replace")
stale = got  # its resourceVersion is now old: a replace with it is a conflict
code, reason, _ = status_of(lambda: v1.replace_namespaced_config_map("py-one", NS, stale))
check(code == 409, f"a stale replace is 409 Conflict (got {code} {reason})")

# Errors, as ApiException codes.
code, _, _ = status_of(lambda: v1.read_namespaced_config_map("missing", NS))
check(code == 404, "a missing object is 404")
code, _, _ = status_of(lambda: v1.create_namespaced_config_map(NS, cm))
check(code == 409, "an existing name is 409")
bad = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name"), data={})
code, _, body = status_of(lambda: v1.create_namespaced_config_map(NS, bad))
check(code == 422 and "metadata.name" in body, f"an invalid object is 422 naming the field ({body})")

# Patches of each type.
v1.patch_namespaced_config_map(
    "py-one", NS, {"data": {"c": "3"}}, _content_type="application/merge-patch+json"
)
v1.patch_namespaced_config_map(
    "py-one", NS, [{"op": "add", "path": "/data/d", "value": "4"}],
    _content_type="application/json-patch+json",
)
v1.patch_namespaced_config_map(
    "py-one", NS, {"metadata": {"labels": {"patched": "yes"}}},
    _content_type="application/strategic-merge-patch+json",
)
applied = {
    "apiVersion": "v1", "kind": "ConfigMap",
    "metadata": {"name": "py-one", "labels": {"from": "python"}},
    "data": {"e": "5"},
}
v1.patch_namespaced_config_map(
    "py-one", NS, applied, field_manager="py-test",
    _content_type="application/apply-patch+yaml",
)
code, _, body = status_of(lambda: v1.patch_namespaced_config_map(
    "py-one", NS, applied, _content_type="application/apply-patch+yaml"))
check(code == 422 and "fieldManager" in body, f"an apply names its field manager ({code} {body})")
got = v1.read_namespaced_config_map("py-one", NS)
check(got.data == {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}, f"every patch type ({got.data})")
check(got.metadata.labels.get("patched") == "yes", "strategic merge patch")
owners = {m.manager: m.operation for m in got.metadata.managed_fields or []}
check(owners.get("py-test") == "Apply", f"server-side apply records its manager ({owners})")

# Lists in pages.
for i in range(5):
    v1.create_namespaced_config_map(NS, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=f"py-page-{i}", labels={"page": "yes"}), data={}))
first = v1.list_namespaced_config_map(NS, limit=2)
check(first.metadata.remaining_item_count is not None and first.metadata.remaining_item_count >= 4,
      f"an unfiltered page counts what remains ({first.metadata.remaining_item_count})")
names, token, pages = [], None, 0
while True:
    page = v1.list_namespaced_config_map(NS, label_selector="page=yes", limit=2, _continue=token)
    names += [c.metadata.name for c in page.items]
    pages += 1
    token = page.metadata._continue
    if not token:
        break
check(pages == 3 and names == [f"py-page-{i}" for i in range(5)], f"limit/continue ({pages} pages: {names})")

# A watch with a timeout: the current objects, then it ends.
events = [e["type"] for e in watch.Watch().stream(
    v1.list_namespaced_config_map, NS, label_selector="page=yes", timeout_seconds=2)]
check(events.count("ADDED") == 5, f"watch with timeoutSeconds ({events})")

# The watch-list protocol: initial events, then the bookmark that ends them.
w = watch.Watch()
seen = []
for e in w.stream(v1.list_namespaced_config_map, NS, label_selector="page=yes",
                  send_initial_events=True, allow_watch_bookmarks=True,
                  resource_version_match="NotOlderThan", timeout_seconds=2):
    if e["type"] == "BOOKMARK":
        meta = e["raw_object"]["metadata"]
        if (meta.get("annotations") or {}).get("k8s.io/initial-events-end") == "true":
            seen.append("END")
            w.stop()
    else:
        seen.append(e["type"])
check(seen == ["ADDED"] * 5 + ["END"], f"sendInitialEvents ends with the bookmark ({seen})")

# The status subresource: a status patch changes the status only.
net = client.NetworkingV1Api()
net.create_namespaced_ingress(NS, client.V1Ingress(
    metadata=client.V1ObjectMeta(name="py-ing"),
    spec=client.V1IngressSpec(default_backend=client.V1IngressBackend(
        service=client.V1IngressServiceBackend(name="web", port=client.V1ServiceBackendPort(number=80))))))
net.patch_namespaced_ingress_status("py-ing", NS, {"status": {"loadBalancer": {"ingress": [{"ip": "10.1.2.3"}]}}},
                                    _content_type="application/merge-patch+json")
ing = net.read_namespaced_ingress_status("py-ing", NS)
check(ing.status.load_balancer.ingress[0].ip == "10.1.2.3", "patch a status")
ing.status.load_balancer.ingress[0].ip = "10.1.2.4"
ing.spec.default_backend.service.name = "other"
net.replace_namespaced_ingress_status("py-ing", NS, ing)
ing = net.read_namespaced_ingress("py-ing", NS)
check(ing.status.load_balancer.ingress[0].ip == "10.1.2.4", "replace a status")
check(ing.spec.default_backend.service.name == "web", "a status write leaves the spec alone")

# A service account's token, used: it authenticates (403 for what it may not do, not 401).
v1.create_namespaced_service_account(NS, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="py-sa")))
t = v1.create_namespaced_service_account_token("py-sa", NS, client.AuthenticationV1TokenRequest(
    spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)))
check(len(t.status.token) > 20 and t.status.expiration_timestamp is not None, "a token request")
as_sa = client.Configuration.get_default_copy()
as_sa.api_key = {"authorization": "Bearer " + t.status.token}
as_sa.cert_file = as_sa.key_file = None
sa_api = client.CoreV1Api(client.ApiClient(as_sa))
code, _, _ = status_of(lambda: sa_api.list_namespaced_secret(NS))
check(code == 403, f"the token authenticates its account, which may not list secrets (got {code})")

# Events as events.k8s.io/v1: the same objects, converted; writes go through v1.
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
v1.create_namespaced_event(NS, client.CoreV1Event(
    metadata=client.V1ObjectMeta(name="py-event"),
    involved_object=client.V1ObjectReference(kind="ConfigMap", name="py-one", namespace=NS),
    reason="Tested", message="seen twice", type="Normal", count=2,
    source=client.V1EventSource(component="py-test", host="here"),
    first_timestamp=now, last_timestamp=now))
ev1 = client.EventsV1Api()
e = ev1.read_namespaced_event("py-event", NS)
check(e.regarding.name == "py-one" and e.note == "seen twice" and e.reporting_controller == "py-test"
      and e.event_time == now and e.series.count == 2,
      f"a v1 Event reads as events.k8s.io/v1 ({e})")
listed = [x.metadata.name for x in ev1.list_namespaced_event(NS).items]
check("py-event" in listed, f"events.k8s.io/v1 lists it ({listed})")
code, _, _ = status_of(lambda: ev1.create_namespaced_event(NS, e))
check(code == 405, f"events.k8s.io/v1 is read-only here (got {code})")

# Access reviews of non-resource URLs: discovery is everyone's, other URLs need a role.
auth = client.AuthorizationV1Api()
def can(path, verb="get", api=None):
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        non_resource_attributes=client.V1NonResourceAttributes(path=path, verb=verb)))
    return (api or auth).create_self_subject_access_review(review).status.allowed
sa_auth = client.AuthorizationV1Api(client.ApiClient(as_sa))
check(can("/version", api=sa_auth) and can("/apis/apps", api=sa_auth), "discovery URLs are everyone's")
check(not can("/logs", api=sa_auth) and not can("/version", "post", api=sa_auth),
      "other non-resource URLs and verbs need a ClusterRole")

# A collection deleted by label: only what the selector matches goes.
gone = v1.delete_collection_namespaced_config_map(NS, label_selector="page=yes")
left = [c.metadata.name for c in v1.list_namespaced_config_map(NS).items]
check(not any(n.startswith("py-page-") for n in left) and "py-one" in left,
      f"deletecollection by label ({left})")

# Deletion, then reading it is 404.
v1.delete_namespaced_config_map("py-one", NS)
code, _, _ = status_of(lambda: v1.read_namespaced_config_map("py-one", NS))
check(code == 404, "deleted")
deployments = apps.list_namespaced_deployment(NS)
check(deployments.items == [], "an empty list of another group")
print("all python client checks passed")
