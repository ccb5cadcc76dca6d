//! Rules types cannot express: name syntax, ranges, "exactly one of", references between
//! fields, selectors that must match templates. Each rule reports the field path and a fix;
//! all violations are collected, not just the first.

mod autoscaling;
mod canary;
pub mod cidr;
mod config;
mod meta;
pub mod names;
mod network;
mod plugin;
mod pod;
pub mod quota;
mod rbac;
mod routes;
mod scheduling;
mod security;
mod workloads;

use std::path::Path;

use crate::manifest::FieldPath;
use crate::object::Object;

/// What validation may consult besides the object.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The manifest's folder: relative Wasm artifact paths must exist under it.
    pub base_dir: Option<&'a Path>,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub path: FieldPath,
    pub message: String,
    pub hint: Option<String>,
}

/// Collects violations as rules run.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<Violation>);

impl Violations {
    pub fn add(&mut self, path: FieldPath, message: impl Into<String>) {
        self.0.push(Violation {
            path,
            message: message.into(),
            hint: None,
        });
    }

    pub fn add_hint(
        &mut self,
        path: FieldPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Violation {
            path,
            message: message.into(),
            hint: Some(hint.into()),
        });
    }

    /// Reports `value` at `path` if it is outside `min..=max`.
    pub fn range(&mut self, path: FieldPath, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            let bound = if max == i64::MAX {
                format!("at least {min}")
            } else {
                format!("between {min} and {max}")
            };
            self.add(path, format!("invalid value {value}: must be {bound}"));
        }
    }
}

/// Checks every rule for `obj`; an empty result means it is valid.
pub fn object(obj: &Object, ctx: &Context<'_>) -> Vec<Violation> {
    let mut v = Violations::default();
    meta::object_meta(
        obj.kind(),
        obj.metadata(),
        &FieldPath::root().field("metadata"),
        &mut v,
    );
    let spec = FieldPath::root().field("spec");
    match obj {
        Object::Pod(p) => pod::pod_spec(&p.spec, &spec, ctx, &mut v),
        Object::ReplicaSet(r) => {
            workloads::replicas(r.spec.replicas, &spec, &mut v);
            workloads::selected_template(&r.spec.selector, &r.spec.template, &spec, ctx, &mut v);
        }
        Object::Deployment(d) => workloads::deployment(&d.spec, &spec, ctx, &mut v),
        Object::DaemonSet(d) => workloads::daemonset(&d.spec, &spec, ctx, &mut v),
        Object::Job(j) => workloads::job(&j.spec, &spec, ctx, &mut v),
        Object::HorizontalPodAutoscaler(h) => autoscaling::spec(&h.spec, &spec, &mut v),
        Object::Service(s) => network::service(&s.spec, &spec, &mut v),
        Object::Endpoints(e) => network::endpoints(e, &mut v),
        Object::ConfigMap(c) => config::config_map(c, &mut v),
        Object::Secret(s) => config::secret(s, &mut v),
        Object::KeyValue(kv) => config::key_value(kv, &mut v),
        Object::HttpFilter(f) => plugin::plugin(&f.spec, &spec, &mut v),
        Object::WasmAdmissionPolicy(p) => plugin::admission_policy(&p.spec, &spec, &mut v),
        Object::Node(n) => network::node(n, &mut v),
        Object::Ingress(i) => routes::ingress(&i.spec, &spec, &mut v),
        Object::HttpRoute(r) => routes::http_route(&r.spec, &spec, &mut v),
        Object::Event(e) => {
            if e.involved_object.name.is_empty() || e.involved_object.kind.is_empty() {
                v.add(
                    FieldPath::parse_dotted("involvedObject"),
                    "an event needs the kind and name of its object",
                );
            }
        }
        Object::PriorityClass(c) => {
            if c.value > crate::model::priorityclass::HIGHEST_USER_PRIORITY {
                v.add_hint(
                    FieldPath::root().field("value"),
                    format!("{} is above the highest user priority", c.value),
                    format!(
                        "use a value up to {} (higher ones are kept for the system)",
                        crate::model::priorityclass::HIGHEST_USER_PRIORITY
                    ),
                );
            }
        }
        Object::Role(r) => rbac::rules(&r.rules, false, &mut v),
        Object::ClusterRole(r) => rbac::rules(&r.rules, true, &mut v),
        Object::RoleBinding(b) => {
            rbac::role_ref(&b.role_ref, false, &mut v);
            rbac::subjects(&b.subjects, false, &mut v);
        }
        Object::ClusterRoleBinding(b) => {
            rbac::role_ref(&b.role_ref, true, &mut v);
            rbac::subjects(&b.subjects, true, &mut v);
        }
        Object::Namespace(n) => {
            use crate::model::namespace::*;
            for label in [POD_SECURITY_ENFORCE, POD_SECURITY_WARN, POD_SECURITY_AUDIT] {
                if let Some(level) = n.metadata.labels.get(label)
                    && !POD_SECURITY_LEVELS.contains(&level.as_str())
                {
                    v.add_hint(
                        FieldPath::root()
                            .field("metadata")
                            .field("labels")
                            .field(label),
                        format!("unknown Pod Security level {level:?}"),
                        "privileged, baseline or restricted",
                    );
                }
            }
        }
        Object::ResourceQuota(q) => quota::resource_quota(q, &mut v),
        Object::LimitRange(l) => quota::limit_range(l, &mut v),
        Object::ServiceAccount(_) => {}
    }
    v.0
}
