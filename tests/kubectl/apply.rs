//! Server-side apply through kubectl and `skiff apply`: fields belong to the manager that
//! set them (`metadata.managedFields`), a conflicting apply is refused until forced, a
//! field dropped from the configuration goes, and fields the configuration leaves out
//! (a pause, a scale) stay. Then the rollout verbs that rewrite a Deployment's template:
//! `set image`, `rollout history` and `rollout undo`.

use serde_json::Value;

use super::*;

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: IMAGE}]
";

fn web(replicas: Option<u32>, image: &str) -> String {
    let replicas = replicas.map_or(String::new(), |r| format!("replicas: {r}"));
    WEB.replace("REPLICAS", &replicas).replace("IMAGE", image)
}

fn managers(k: &Kubectl) -> Vec<(String, String)> {
    let d: Value = serde_json::from_str(&k.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    d["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let op = e["operation"].as_str().unwrap_or_default().to_owned();
            (e["manager"].as_str().unwrap_or_default().to_owned(), op)
        })
        .collect()
}

#[test]
fn server_side_apply_owns_fields_refuses_conflicts_and_keeps_what_others_set() {
    let c = Cluster::start(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl {
        config: kubeconfig(&c.server, dir.path()),
        cache: dir.path().join("cache"),
    };
    let file = dir.path().join("web.yaml");
    let path = file.to_str().unwrap();
    let get = |field: &str| k.ok(&["get", "deploy", "web", "-o", &format!("jsonpath={field}")]);

    std::fs::write(&file, web(Some(2), "nginx:1.27")).unwrap();
    let applied = k.ok(&["apply", "--server-side", "-f", path]);
    assert!(
        applied.contains("deployment.apps/web serverside-applied"),
        "{applied}"
    );
    let owners = managers(&k);
    assert!(
        owners.contains(&("kubectl".to_owned(), "Apply".to_owned())),
        "{owners:?}"
    );

    // Someone scales it; re-applying replicas: 2 now changes their field: a conflict.
    k.ok(&["scale", "deploy", "web", "--replicas=5"]);
    let refused = k.run(&["apply", "--server-side", "-f", path]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Apply failed with 1 conflict") && err.contains(".spec.replicas"),
        "{err}"
    );
    assert_eq!(
        get("{.spec.replicas}"),
        "5",
        "a refused apply writes nothing"
    );
    k.ok(&["apply", "--server-side", "--force-conflicts", "-f", path]);
    assert_eq!(get("{.spec.replicas}"), "2");

    // A partial configuration takes just what it names (another manager, forced).
    let partial = dir.path().join("replicas.yaml");
    std::fs::write(
        &partial,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 4}\n",
    )
    .unwrap();
    let p = partial.to_str().unwrap();
    let refused = k.run(&["apply", "--server-side", "--field-manager=scaler", "-f", p]);
    assert_eq!(refused.status.code(), Some(1), "replicas is kubectl's");
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager=scaler",
        "--force-conflicts",
        "-f",
        p,
    ]);
    assert_eq!(get("{.spec.replicas}"), "4");
    assert_eq!(
        get("{.spec.template.spec.containers[0].image}"),
        "nginx:1.27"
    );
    k.ok(&["apply", "--server-side", "--force-conflicts", "-f", path]);
    assert_eq!(get("{.spec.replicas}"), "2", "taken back");

    // Dropped from the configuration, a field only the applier set goes (and is defaulted).
    std::fs::write(&file, web(None, "nginx:1.27")).unwrap();
    k.ok(&["apply", "--server-side", "-f", path]);
    assert_eq!(get("{.spec.replicas}"), "1");

    // `skiff apply` is server-side apply too: a pause it never set stays.
    k.ok(&["rollout", "pause", "deploy/web"]);
    let out = skiff(&c.server, &["apply", "-f", path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        get("{.spec.paused}"),
        "true",
        "apply does not resume a paused rollout"
    );
    let owners = managers(&k);
    assert!(
        owners.contains(&("skiff-cli".to_owned(), "Apply".to_owned())),
        "{owners:?}"
    );
    k.ok(&["rollout", "resume", "deploy/web"]);

    // set image, then history and undo, through the template's revisions.
    k.ok(&["set", "image", "deploy/web", "web=nginx:1.28"]);
    assert_eq!(
        get("{.spec.template.spec.containers[0].image}"),
        "nginx:1.28"
    );
    eventually("two revisions in the history", || {
        let history = k.ok(&["rollout", "history", "deploy/web"]);
        history
            .lines()
            .filter(|l| l.trim_start().starts_with(['1', '2']))
            .count()
            == 2
    });
    let undone = k.ok(&["rollout", "undo", "deploy/web"]);
    assert!(undone.contains("rolled back"), "{undone}");
    assert_eq!(
        get("{.spec.template.spec.containers[0].image}"),
        "nginx:1.27"
    );
}
