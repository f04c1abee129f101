//! Property tests of the routing table: it answers any method and any raw path without
//! panicking, a path generated from a route finds that route with its parameters decoded, and
//! every literal route the manifest accepts is reachable by a client.

use std::collections::HashSet;

use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::collection::vec;
use proptest::prelude::*;

use super::{RouteMatch, Routes};
use crate::plugins::manifest::{route_shape, validate_route_path};

/// Proptest's defaults (256 cases, or `PROPTEST_CASES`), without writing regression files into
/// the source tree: a found failure is kept as a named `#[test]` below instead.
fn config() -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

/// One segment of a valid route: a literal (no `{}*?#`, no leading `:`) or a parameter name.
#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Param(String),
}

/// Literals a client sends as they are: the RFC 3986 `pchar` set minus `%` and `:`.
fn literal() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._~!$&'()+,;=@-]{1,8}".prop_filter("the reserved prefix", |s| s != "_eddy")
}

fn segments() -> impl Strategy<Value = Vec<Segment>> {
    vec(
        prop_oneof![
            2 => literal().prop_map(Segment::Literal),
            1 => "[a-zA-Z_][a-zA-Z0-9_]{0,5}".prop_map(Segment::Param),
        ],
        0..6,
    )
}

/// The route pattern of `segments`; parameter names get their position so they are unique.
fn pattern(segments: &[Segment]) -> String {
    if segments.is_empty() {
        return "/".to_owned();
    }
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            Segment::Literal(l) => format!("/{l}"),
            Segment::Param(p) => format!("/:{p}{i}"),
        })
        .collect()
}

/// The parameter names of `pattern`, in order.
fn param_names(pattern: &str) -> Vec<String> {
    pattern.split('/').filter_map(|s| s.strip_prefix(':')).map(str::to_owned).collect()
}

/// Raw request paths: unicode, percent-encoded junk, very long ones, and near-misses of routes.
fn raw_path() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => any::<String>(),
        2 => concat!(
            "(/|%|%[0-9a-fA-F]{1,2}|%[g-zG-Z]{2}|[a-z]{1,3}",
            "|:|\\{|\\}|\\*|\\.\\.|\u{e9}|\u{1f600})*"
        ),
        1 => (1usize..20_000, "[a-z/%]").prop_map(|(n, s)| format!("/{}", s.repeat(n))),
        1 => (1usize..2000).prop_map(|n| "/a".repeat(n)),
        2 => prop::sample::select(vec![
            "/", "", "//", "/todos", "/todos/", "/todos//", "/todos/%", "/todos/%ff", "/todos/%00",
            "/users/%2F/todos/%E2%82", "/users/x/todos/y/z", "*", "/{id}", "/todos/{id}",
        ])
        .prop_map(str::to_owned),
    ]
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
            .prop_map(str::to_owned),
        1 => any::<String>(),
        1 => Just(String::new()),
    ]
}

/// A table of a few fixed routes plus random ones, built through the real [`Routes::build`].
fn table(random: &[(String, Vec<Segment>)]) -> Routes<usize> {
    let fixed = [
        ("POST", "/todos"),
        ("GET", "/todos"),
        ("GET", "/todos/:id"),
        ("POST", "/todos/toggle"),
        ("GET", "/users/:user/todos/:id"),
        ("GET", "/"),
    ];
    let mut bindings: Vec<(String, String, String, usize)> = fixed
        .iter()
        .enumerate()
        .map(|(i, (m, p))| (m.to_string(), p.to_string(), "fixed".into(), i))
        .collect();
    let mut taken: HashSet<(String, String)> =
        bindings.iter().map(|(m, p, _, _)| (m.clone(), route_shape(p))).collect();
    for (i, (m, segs)) in random.iter().enumerate() {
        let p = pattern(segs);
        if taken.insert((m.clone(), route_shape(&p))) {
            bindings.push((m.clone(), p, "random".into(), 100 + i));
        }
    }
    Routes::build(bindings).expect("routes with distinct (method, shape) pairs to build")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn finding_any_method_and_raw_path_never_panics(
        random in vec(("GET|POST", segments()), 0..8),
        requests in vec((method(), raw_path()), 1..16),
    ) {
        let routes = table(&random);
        let patterns: HashSet<String> = routes.iter().map(|(_, p, _)| p.to_owned()).collect();
        for (method, path) in &requests {
            match routes.find(method, path) {
                RouteMatch::Found { route, params, .. } => {
                    prop_assert!(patterns.contains(route), "{} is not a bound route", route);
                    let names: Vec<String> = params.iter().map(|(n, _)| n.clone()).collect();
                    prop_assert_eq!(names, param_names(route));
                }
                RouteMatch::MethodNotAllowed { allow } => {
                    prop_assert!(!allow.is_empty());
                    prop_assert!(!allow.contains(&method.as_str()));
                }
                RouteMatch::NotFound => {}
            }
        }
    }

    #[test]
    fn any_path_the_manifest_accepts_builds_into_a_table_without_panicking(
        raw in vec(("GET|POST|PUT", vec("[^/]{0,6}", 0..5)), 1..8),
    ) {
        let mut bindings = Vec::new();
        let mut taken = HashSet::new();
        for (i, (m, segs)) in raw.iter().enumerate() {
            let path = format!("/{}", segs.join("/"));
            if validate_route_path(&path).is_ok() && taken.insert((m.clone(), route_shape(&path))) {
                bindings.push((m.clone(), path, "p".to_owned(), i));
            }
        }
        let patterns: Vec<(String, String)> =
            bindings.iter().map(|(m, p, _, _)| (m.clone(), p.clone())).collect();
        let routes = Routes::build(bindings);
        prop_assert!(routes.is_ok(), "distinct shapes clashed: {:?}", routes.err());
        let routes = routes.unwrap_or_default();
        // Each literal path of a parameterless pattern finds itself.
        for (m, p) in patterns.iter().filter(|(_, p)| !p.contains("/:")) {
            let found = routes.find(m, p);
            prop_assert!(
                matches!(found, RouteMatch::Found { route, .. } if route == p),
                "{} {} found {:?}", m, p, found
            );
        }
    }

    #[test]
    fn a_path_generated_from_a_route_finds_it_with_its_parameters_decoded(
        segs in segments(),
        values in vec(prop_oneof![3 => ".{1,12}", 1 => any::<String>(), 1 => "[/%?#. ]{1,4}"]
            .prop_filter("non-empty", |s: &String| !s.is_empty()), 6),
        other in vec(segments(), 0..6),
    ) {
        let route = pattern(&segs);
        // Other routes of other methods and shapes share the table; only the method decides.
        let mut bindings = vec![("GET".to_owned(), route.clone(), "me".to_owned(), 0usize)];
        let mut taken = HashSet::from([route_shape(&route)]);
        for (i, s) in other.iter().enumerate() {
            let p = pattern(s);
            if taken.insert(route_shape(&p)) {
                bindings.push(("POST".to_owned(), p, "other".to_owned(), i + 1));
            }
        }
        let routes = Routes::build(bindings).expect("distinct shapes to build");

        let mut path = String::new();
        let mut expected = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            path.push('/');
            match s {
                Segment::Literal(l) => path.push_str(l),
                Segment::Param(p) => {
                    path.extend(utf8_percent_encode(&values[i], NON_ALPHANUMERIC));
                    expected.push((format!("{p}{i}"), values[i].clone()));
                }
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        match routes.find("GET", &path) {
            RouteMatch::Found { target, route: found, params } => {
                prop_assert_eq!(*target, 0, "{} found {}", path, found);
                prop_assert_eq!(found, route.as_str());
                prop_assert_eq!(params, expected);
            }
            other => prop_assert!(false, "{} did not find {}: {:?}", path, route, other),
        }
    }
}

/// What a client (a browser, `reqwest`, `curl` through the `url` crate) percent-encodes in a
/// URL path: the WHATWG path percent-encode set. Non-ASCII is always encoded.
const CLIENT_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The request path a client sends for the literal route `path`.
fn as_client_sends(path: &str) -> String {
    utf8_percent_encode(path, CLIENT_PATH).to_string()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_literal_route_the_manifest_accepts_is_reachable_by_a_client(
        segments in vec(prop_oneof![3 => literal(), 1 => "[^/{}*?#:]{1,6}"], 1..4),
    ) {
        let route = format!("/{}", segments.join("/"));
        prop_assume!(validate_route_path(&route).is_ok());
        let routes = Routes::build([("GET".to_owned(), route.clone(), "p".to_owned(), 0)])
            .expect("one route to build");
        let sent = as_client_sends(&route);
        let found = routes.find("GET", &sent);
        prop_assert!(
            matches!(found, RouteMatch::Found { .. }),
            "the manifest accepts {:?} but a client's request for it ({}) finds {:?}",
            route, sent, found
        );
    }
}

/// Found by `every_literal_route_the_manifest_accepts_is_reachable_by_a_client`: a literal
/// segment with a character clients percent-encode (non-ASCII, a space, a quote) passes
/// `validate_route_path`, but routing compares the raw request path with the literal, so
/// `GET /caf%C3%A9` never finds `/café`: a route nobody can call, bound without a warning.
#[test]
fn a_route_with_a_literal_clients_percent_encode_is_reachable() {
    for route in ["/caf\u{e9}", "/a b", "/say\"hi\""] {
        assert!(validate_route_path(route).is_ok(), "{route}");
        let routes = Routes::build([("GET".to_owned(), route.to_owned(), "p".to_owned(), 0)])
            .expect("one route to build");
        let sent = as_client_sends(route);
        assert!(
            matches!(routes.find("GET", &sent), RouteMatch::Found { .. }),
            "{route:?} requested as {sent} is not found"
        );
    }
}
