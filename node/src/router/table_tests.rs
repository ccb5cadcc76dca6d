use super::*;

fn key(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

fn to(name: &str, port: u16, weight: u32) -> BackendSpec {
    BackendSpec {
        service: key(name),
        port: PortRef::Number(port),
        weight,
    }
}

fn rule(path: PathMatch, backends: Vec<BackendSpec>) -> RuleSpec {
    RuleSpec {
        filters: Vec::new(),
        path,
        method: None,
        headers: Vec::new(),
        query: Vec::new(),
        backends,
        timeout: None,
    }
}

fn route(name: &str, hosts: &[&str], rules: Vec<RuleSpec>) -> RouteSpec {
    RouteSpec {
        name: name.into(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        rules,
        created: 0,
    }
}

/// Services `web`, `api`, `docs`, `any` on port 80, one endpoint each (port = a marker).
fn services() -> HashMap<ServiceKey, Vec<PortSpec>> {
    [("web", 1), ("api", 2), ("docs", 3), ("any", 4)]
        .into_iter()
        .map(|(n, marker)| {
            let ep = (
                SocketAddr::from(([127, 0, 0, 1], marker)),
                Some("n1".into()),
            );
            (
                key(n),
                vec![PortSpec {
                    port: 80,
                    name: Some("http".into()),
                    endpoints: vec![ep],
                    wake: None,
                }],
            )
        })
        .collect()
}

/// Which service a request reaches (its endpoint's marker port), if any.
fn reach(t: &Table, host: &str, method: Method, path_query: &str, h: &HeaderMap) -> Option<u16> {
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_query, None),
    };
    let rule = t.route(&canonical_host(host), &method, path, query, h)?;
    let Ok(b) = &rule.backends.first()?.1 else {
        return None;
    };
    Some(b.endpoints.first()?.addr.port())
}

fn table(routes: &[RouteSpec]) -> Table {
    Table::build(routes, &services(), &Nodes::new(), "n1", &Table::default())
}

#[test]
fn hosts_and_paths_pick_the_most_specific_rule() {
    let t = table(&[
        route(
            "ingress/default/site",
            &["example.com"],
            vec![
                rule(PathMatch::prefix("/"), vec![to("web", 80, 1)]),
                rule(PathMatch::prefix("/api/"), vec![to("api", 80, 1)]),
                rule(
                    PathMatch::Exact("/api/docs".into()),
                    vec![to("docs", 80, 1)],
                ),
            ],
        ),
        route(
            "ingress/default/wild",
            &["*.example.com"],
            vec![rule(PathMatch::prefix("/"), vec![to("api", 80, 1)])],
        ),
        route(
            "ingress/default/fallback",
            &[],
            vec![rule(PathMatch::prefix("/"), vec![to("any", 80, 1)])],
        ),
    ]);
    let h = HeaderMap::new();
    let get = |host, p| reach(&t, host, Method::GET, p, &h);
    assert_eq!(get("example.com", "/"), Some(1));
    assert_eq!(get("EXAMPLE.com:8080", "/index.html"), Some(1));
    assert_eq!(
        get("example.com", "/api"),
        Some(2),
        "prefix /api/ matches /api"
    );
    assert_eq!(get("example.com", "/api/v1?x=1"), Some(2));
    assert_eq!(get("example.com", "/apis"), Some(1), "element-wise prefix");
    assert_eq!(
        get("example.com", "/api/docs"),
        Some(3),
        "exact beats prefix"
    );
    assert_eq!(get("example.com", "/api/docs/x"), Some(2));
    assert_eq!(get("a.example.com", "/"), Some(2), "wildcard host");
    assert_eq!(get("a.b.example.com", "/"), Some(2));
    assert_eq!(
        get("other.org", "/"),
        Some(4),
        "a hostless route catches the rest"
    );
    assert_eq!(
        get("example.com.", "/"),
        Some(1),
        "a trailing dot is the same host"
    );
}

#[test]
fn methods_headers_and_queries_narrow_a_match() {
    let mut canary = rule(PathMatch::prefix("/"), vec![to("api", 80, 1)]);
    canary.headers = vec![(
        HeaderName::from_static("x-canary"),
        HeaderValue::from_static("yes"),
    )];
    let mut post = rule(PathMatch::prefix("/"), vec![to("docs", 80, 1)]);
    post.method = Some(Method::POST);
    let mut q = rule(PathMatch::prefix("/"), vec![to("any", 80, 1)]);
    q.query = vec![("v".into(), "2".into())];
    let t = table(&[route(
        "httproute/default/r",
        &["h"],
        vec![
            rule(PathMatch::prefix("/"), vec![to("web", 80, 1)]),
            canary,
            post,
            q,
        ],
    )]);
    let mut h = HeaderMap::new();
    assert_eq!(reach(&t, "h", Method::GET, "/", &h), Some(1));
    assert_eq!(reach(&t, "h", Method::POST, "/", &h), Some(3));
    assert_eq!(reach(&t, "h", Method::GET, "/?a=1&v=2", &h), Some(4));
    assert_eq!(
        reach(&t, "h", Method::GET, "/?v=1&v=2", &h),
        Some(1),
        "the first value of a repeated parameter counts"
    );
    h.insert("x-canary", HeaderValue::from_static("yes"));
    assert_eq!(reach(&t, "h", Method::GET, "/", &h), Some(2));
    assert_eq!(reach(&t, "nope", Method::GET, "/", &h), None);
}

#[test]
fn missing_services_and_ports_are_reasons() {
    let t = table(&[route(
        "httproute/default/r",
        &[],
        vec![
            rule(PathMatch::prefix("/a"), vec![to("ghost", 80, 1)]),
            rule(PathMatch::prefix("/b"), vec![to("web", 81, 1)]),
        ],
    )]);
    let h = HeaderMap::new();
    let why = |p: &str| match t.route("x", &Method::GET, p, None, &h) {
        Some(r) => match &r.backends[0].1 {
            Err(why) => why.to_string(),
            Ok(_) => "a backend".into(),
        },
        None => "no rule".into(),
    };
    assert_eq!(why("/a"), "service default/ghost does not exist");
    assert_eq!(why("/b"), "service default/web has no port 81");
}

#[test]
fn in_cluster_names_find_services() {
    let t = table(&[]);
    let port = |b: Option<Arc<Backend>>| b.map(|b| b.endpoints[0].addr.port());
    assert_eq!(port(t.service("web.default.svc", None, "x")), Some(1));
    assert_eq!(
        port(t.service("web.default.svc.cluster.local", None, "x")),
        Some(1)
    );
    assert_eq!(port(t.service("web.default", Some(80), "x")), Some(1));
    assert_eq!(
        port(t.service("api", None, "default")),
        Some(2),
        "own namespace"
    );
    assert_eq!(port(t.service("api", None, "other")), None);
    assert_eq!(port(t.service("web.default.svc", Some(81), "x")), None);
    assert_eq!(port(t.service("example.com", None, "default")), None);
}

#[test]
fn endpoints_keep_their_counters_and_say_how_they_are_reached() {
    let mut svcs = services();
    let remote = (SocketAddr::from(([127, 0, 0, 9], 9)), Some("n2".into()));
    svcs.get_mut(&key("web")).unwrap()[0].endpoints.push(remote);
    let nodes: Nodes = [("n2".to_string(), SocketAddr::from(([10, 0, 0, 2], 8080)))].into();
    let first = Table::build(&[], &svcs, &nodes, "n1", &Table::default());
    let web = first.service("web.default.svc", None, "").unwrap();
    assert_eq!(web.endpoints[0].via, Via::Local);
    assert_eq!(
        web.endpoints[1].via,
        Via::Node(([10, 0, 0, 2], 8080).into(), "n2".into())
    );
    let held = web.endpoints[0].begin();
    let second = Table::build(&[], &svcs, &nodes, "n1", &first);
    let again = second.service("web.default.svc", None, "").unwrap();
    assert_eq!(again.endpoints[0].outstanding(), 1, "counted across builds");
    drop(held);
    assert_eq!(again.endpoints[0].outstanding(), 0);
}

#[test]
fn equal_rules_are_ordered_by_route_name_on_every_node() {
    let r = |name: &str, svc: &str| {
        route(
            name,
            &["h"],
            vec![rule(PathMatch::prefix("/"), vec![to(svc, 80, 1)])],
        )
    };
    let h = HeaderMap::new();
    // Same age, same match: the name decides, whatever order the routes come in.
    let a = table(&[
        r("httproute/default/b", "web"),
        r("httproute/default/a", "api"),
    ]);
    let b = table(&[
        r("httproute/default/a", "api"),
        r("httproute/default/b", "web"),
    ]);
    assert_eq!(reach(&a, "h", Method::GET, "/", &h), Some(2));
    assert_eq!(reach(&b, "h", Method::GET, "/", &h), Some(2));
}
