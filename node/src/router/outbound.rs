//! In-cluster calls: a Wasm guest's outgoing `wasi:http` requests for a Service name
//! (`SERVICE.NAMESPACE.svc[.cluster.local][:port]`, or `SERVICE` in the pod's own
//! namespace) go through the router, as a request from the ingress would; any other
//! request goes out as wasmtime would send it.

use std::sync::Arc;

use hyper::Request;

use super::{Body, Router, table};

/// A pod's outgoing requests: in-cluster names go through the router.
struct ClusterCalls {
    router: Arc<Router>,
    namespace: String,
}

impl crate::wasm::Outbound for ClusterCalls {
    fn accepts(&self, req: &Request<Body>) -> bool {
        req.uri().host().is_some_and(|h| {
            let host = table::canonical_host(h);
            let port = req.uri().port_u16();
            self.router
                .table()
                .service(&host, port, &self.namespace)
                .is_some()
        })
    }

    fn send(&self, req: Request<Body>) -> crate::wasm::Answer {
        let (router, namespace) = (self.router.clone(), self.namespace.clone());
        Box::pin(async move { router.route(req, Some(&namespace)).await })
    }
}

impl Router {
    /// The router as pods of `namespace` call it.
    pub fn outbound(self: &Arc<Self>, namespace: &str) -> Arc<dyn crate::wasm::Outbound> {
        Arc::new(ClusterCalls {
            router: self.clone(),
            namespace: namespace.to_owned(),
        })
    }
}

/// Sends nothing to the cluster (a router that is shutting down).
pub(super) struct Nowhere;

impl crate::wasm::Outbound for Nowhere {
    fn accepts(&self, _: &Request<Body>) -> bool {
        false
    }

    fn send(&self, _: Request<Body>) -> crate::wasm::Answer {
        Box::pin(async {
            super::answer(hyper::StatusCode::SERVICE_UNAVAILABLE, "the router stopped")
        })
    }
}
