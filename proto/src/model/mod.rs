//! The object model: one file per resource, plus the building blocks they share.
//!
//! Every type derives serde (the YAML/JSON form users write, shaped like Kubernetes and
//! decoded strictly: unknown fields are errors) and rkyv (the stored form).

pub mod autoscaling;
pub mod bootstrap;
pub mod canary;
pub mod condition;
pub mod configmap;
pub mod container;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod event;
pub mod httproute;
pub mod ingress;
pub mod job;
pub mod keyvalue;
pub mod managed;
pub mod meta;
pub mod namespace;
pub mod node;
pub mod plugin;
pub mod pod;
pub mod priorityclass;
pub mod probe;
pub mod quantity;
pub mod quota;
pub mod rbac;
pub mod replicaset;
pub mod scheduling;
pub mod secret;
pub mod security;
pub mod selector;
mod selector_text;
pub mod service;
pub mod serviceaccount;
pub mod values;
pub mod volume;

pub use autoscaling::{HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec};
pub use condition::{Condition, ConditionStatus};
pub use configmap::ConfigMap;
pub use container::{
    Container, ContainerPort, EnvVar, EnvVarSource, ResourceRequirements, VolumeMount,
};
pub use daemonset::{DaemonSet, DaemonSetSpec, DaemonSetStatus};
pub use deployment::{
    Deployment, DeploymentSpec, DeploymentStatus, DeploymentStrategy, RollingUpdate,
};
pub use endpoints::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints};
pub use event::{Event, EventType};
pub use httproute::{
    HttpBackendRef, HttpHeaderMatch, HttpPathMatch, HttpQueryParamMatch, HttpRoute, HttpRouteMatch,
    HttpRouteRule, HttpRouteSpec, HttpRouteStatus, HttpRouteTimeouts, MatchType, ParentReference,
    PathMatchType, RouteParentStatus,
};
pub use ingress::{
    HttpIngressPath, HttpIngressRuleValue, Ingress, IngressBackend, IngressLoadBalancerIngress,
    IngressLoadBalancerStatus, IngressRule, IngressServiceBackend, IngressSpec, IngressStatus,
    IngressTls, PathType, ServiceBackendPort,
};
pub use job::{Job, JobSpec, JobStatus};
pub use keyvalue::KeyValue;
pub use managed::{ManagedFields, ManagedFieldsEntry};
pub use meta::{ObjectMeta, ObjectReference, OwnerReference};
pub use namespace::Namespace;
pub use node::{Node, NodeSpec, NodeStatus, Runtime};
pub use plugin::{HttpFilter, WasmAdmissionPolicy};
pub use pod::{
    ContainerState, ContainerStatus, Pod, PodPhase, PodSpec, PodStatus, PodTemplateSpec,
    RestartPolicy,
};
pub use priorityclass::PriorityClass;
pub use probe::Probe;
pub use quantity::Quantity;
pub use quota::{
    LimitRange, LimitRangeItem, ResourceQuota, ResourceQuotaSpec, ResourceQuotaStatus,
};
pub use rbac::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
pub use replicaset::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
pub use secret::Secret;
pub use selector::LabelSelector;
pub use service::{Service, ServicePort, ServiceSpec};
pub use serviceaccount::ServiceAccount;
pub use values::{Base64Bytes, IntOrString, Time};
pub use volume::Volume;
