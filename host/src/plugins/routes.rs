//! HTTP routing: a pure table from `(method, path)` to whatever the caller binds (a function).
//! Built once per registry snapshot and never mutated, so matching takes no lock. Each method
//! has its own radix tree (`matchit`), so lookup cost depends on the path's length, not on how
//! many routes exist, and `GET /x/:p` still serves `GET /x/y` when only `POST` binds `/x/y`.
//! Routes are written `/todos/:id`; `:name` segments become path parameters. Request paths are
//! matched percent-decoded (except `%2F` and `%25`, which stay escaped so a parameter can hold
//! a slash or a percent sign), so `/café` is reachable as `/caf%C3%A9`. A path bound for GET
//! answers HEAD with the same binding, unless HEAD is bound there itself.

use std::borrow::Cow;
use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

/// An immutable routing table.
#[derive(Debug)]
pub struct Routes<T> {
    /// Method → its routes, as indexes into `bindings`. Few methods, so a sorted map (and
    /// `Allow` lists come out sorted).
    trees: BTreeMap<String, matchit::Router<usize>>,
    bindings: Vec<Binding<T>>,
}

#[derive(Debug)]
struct Binding<T> {
    method: String,
    /// The pattern as written in the manifest, e.g. `/todos/:id`.
    pattern: String,
    target: T,
}

/// The outcome of routing one request.
#[derive(Debug, PartialEq)]
pub enum RouteMatch<'a, T> {
    Found {
        target: &'a T,
        /// The pattern that matched, e.g. `/todos/:id`.
        route: &'a str,
        /// Decoded `:name` parameters, in path order.
        params: Vec<(String, String)>,
    },
    /// The path exists but not with this method; `allow` lists those that do.
    MethodNotAllowed {
        allow: Vec<&'a str>,
    },
    NotFound,
}

/// Two bindings that cannot both be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route {method} {path} of {owner} clashes with {other_path} of {other_owner}")]
pub struct RouteClash {
    pub method: String,
    pub path: String,
    pub owner: String,
    pub other_path: String,
    pub other_owner: String,
}

impl<T> Default for Routes<T> {
    fn default() -> Self {
        Routes { trees: BTreeMap::new(), bindings: Vec::new() }
    }
}

impl<T> Routes<T> {
    /// Builds a table from `(method, path, owner, target)` bindings; `owner` names who bound the
    /// route (a plugin) in clash errors. Paths must already be valid (see
    /// [`crate::plugins::manifest::validate_route_path`]).
    pub fn build(
        bindings: impl IntoIterator<Item = (String, String, String, T)>,
    ) -> Result<Routes<T>, RouteClash> {
        let mut routes = Routes::default();
        // Method → shape → (pattern, owner) of what is bound, to name the other side of a clash.
        let mut bound: BTreeMap<String, BTreeMap<String, (String, String)>> = BTreeMap::new();
        for (method, path, owner, target) in bindings {
            let shape = crate::plugins::manifest::route_shape(&path);
            let shapes = bound.entry(method.clone()).or_default();
            let clash = |other_path: String, other_owner: String| RouteClash {
                method: method.clone(),
                path: path.clone(),
                owner: owner.clone(),
                other_path,
                other_owner,
            };
            if let Some((other_path, other_owner)) = shapes.get(&shape) {
                return Err(clash(other_path.clone(), other_owner.clone()));
            }
            let tree = routes.trees.entry(method.clone()).or_default();
            if let Err(e) = tree.insert(to_matchit(&path), routes.bindings.len()) {
                let other_path = match &e {
                    matchit::InsertError::Conflict { with } => from_matchit(with),
                    other => other.to_string(),
                };
                let other_shape = crate::plugins::manifest::route_shape(&other_path);
                let other_owner =
                    shapes.get(&other_shape).map(|(_, o)| o.clone()).unwrap_or_default();
                return Err(clash(other_path, other_owner));
            }
            shapes.insert(shape, (path.clone(), owner.clone()));
            routes.bindings.push(Binding { method, pattern: path, target });
        }
        Ok(routes)
    }

    /// Routes one request. `path` is the raw (still percent-encoded) request path.
    pub fn find(&self, method: &str, path: &str) -> RouteMatch<'_, T> {
        let path = normalize(path);
        let lookup = |method: &str| self.trees.get(method).and_then(|tree| tree.at(&path).ok());
        // HEAD is GET without the body (RFC 9110): a path bound for GET answers it too.
        let matched =
            lookup(method).or_else(|| (method == "HEAD").then(|| lookup("GET")).flatten());
        if let Some(matched) = matched {
            let params = matched
                .params
                .iter()
                .map(|(name, value)| {
                    (name.to_string(), percent_decode_str(value).decode_utf8_lossy().into())
                })
                .collect();
            let binding = &self.bindings[*matched.value];
            return RouteMatch::Found { target: &binding.target, route: &binding.pattern, params };
        }
        let mut allow = self.methods(&path);
        if allow.contains(&"GET") && !allow.contains(&"HEAD") {
            allow.push("HEAD");
            allow.sort_unstable();
        }
        allow.retain(|other| *other != method);
        if allow.is_empty() { RouteMatch::NotFound } else { RouteMatch::MethodNotAllowed { allow } }
    }

    /// The methods bound at `path` (raw, as in [`Routes::find`]), sorted.
    pub fn methods(&self, path: &str) -> Vec<&str> {
        let path = normalize(path);
        self.trees
            .iter()
            .filter(|(_, tree)| tree.at(&path).is_ok())
            .map(|(method, _)| method.as_str())
            .collect()
    }

    /// Every binding as `(method, pattern, target)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &T)> {
        self.bindings.iter().map(|b| (b.method.as_str(), b.pattern.as_str(), &b.target))
    }
}

/// Decodes percent escapes, except `%2F` (`/`) and `%25` (`%`): those stay escaped so the
/// path keeps its segments and parameters decode exactly once, later.
fn normalize(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b'/') | Some(b'%') | None => out.push(bytes[i]),
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
            }
        } else {
            out.push(bytes[i]);
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `/todos/:id` → `/todos/{id}`.
fn to_matchit(path: &str) -> String {
    path.split('/')
        .map(|s| match s.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `/todos/{id}` → `/todos/:id`.
fn from_matchit(path: &str) -> String {
    path.split('/')
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => format!(":{name}"),
            None => s.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests {
    use super::*;

    fn binding(
        method: &str,
        path: &str,
        owner: &str,
        target: u32,
    ) -> (String, String, String, u32) {
        (method.into(), path.into(), owner.into(), target)
    }

    fn todos() -> Routes<u32> {
        Routes::build([
            binding("POST", "/todos", "todos", 1),
            binding("GET", "/todos", "todos", 2),
            binding("POST", "/todos/toggle", "todos", 3),
            binding("GET", "/todos/:id", "todos", 4),
            binding("GET", "/users/:user/todos/:id", "users", 5),
        ])
        .unwrap()
    }

    #[test]
    fn a_static_route_matches_its_method() {
        let routes = todos();
        assert_eq!(
            routes.find("GET", "/todos"),
            RouteMatch::Found { target: &2, route: "/todos", params: vec![] }
        );
        assert!(matches!(routes.find("POST", "/todos"), RouteMatch::Found { target: &1, .. }));
    }

    #[test]
    fn parameters_are_captured_in_order_and_decoded() {
        let routes = todos();
        assert_eq!(
            routes.find("GET", "/users/ann%20b/todos/42"),
            RouteMatch::Found {
                target: &5,
                route: "/users/:user/todos/:id",
                params: vec![("user".into(), "ann b".into()), ("id".into(), "42".into())],
            }
        );
    }

    #[test]
    fn a_static_segment_wins_over_a_parameter() {
        let routes = todos();
        assert!(matches!(
            routes.find("POST", "/todos/toggle"),
            RouteMatch::Found { target: &3, .. }
        ));
        // Only POST binds the literal: GET falls back to the parameter route of its own method.
        assert!(matches!(
            routes.find("GET", "/todos/toggle"),
            RouteMatch::Found { target: &4, .. }
        ));
        assert!(matches!(routes.find("GET", "/todos/x"), RouteMatch::Found { target: &4, .. }));
    }

    #[test]
    fn a_known_path_with_another_method_lists_the_allowed_ones() {
        let routes = todos();
        assert_eq!(
            routes.find("DELETE", "/todos"),
            RouteMatch::MethodNotAllowed { allow: vec!["GET", "HEAD", "POST"] }
        );
    }

    #[test]
    fn head_is_answered_by_the_get_route_unless_bound_itself() {
        let routes = todos();
        assert_eq!(
            routes.find("HEAD", "/todos/7"),
            RouteMatch::Found {
                target: &4,
                route: "/todos/:id",
                params: vec![("id".into(), "7".into())]
            }
        );
        assert_eq!(
            routes.find("HEAD", "/todos/toggle"),
            RouteMatch::Found {
                target: &4,
                route: "/todos/:id",
                params: vec![("id".into(), "toggle".into())]
            },
            "like GET, HEAD falls back to the parameter route"
        );
        let own =
            Routes::build([binding("GET", "/a", "p", 1), binding("HEAD", "/a", "p", 2)]).unwrap();
        assert!(matches!(own.find("HEAD", "/a"), RouteMatch::Found { target: &2, .. }));
        let post_only = Routes::build([binding("POST", "/a", "p", 1)]).unwrap();
        assert_eq!(
            post_only.find("HEAD", "/a"),
            RouteMatch::MethodNotAllowed { allow: vec!["POST"] }
        );
    }

    #[test]
    fn request_paths_are_matched_decoded_but_parameters_keep_their_slashes() {
        let routes = Routes::build([binding("GET", "/caf\u{e9}/:name", "p", 1)]).unwrap();
        assert_eq!(
            routes.find("GET", "/caf%C3%A9/a%2Fb%25c%20d"),
            RouteMatch::Found {
                target: &1,
                route: "/caf\u{e9}/:name",
                params: vec![("name".into(), "a/b%c d".into())],
            }
        );
        assert_eq!(normalize("/a%zz%2"), "/a%zz%2", "broken escapes stay as they are");
    }

    #[test]
    fn an_unknown_path_is_not_found() {
        let routes = todos();
        assert_eq!(routes.find("GET", "/nope"), RouteMatch::NotFound);
        assert_eq!(routes.find("GET", "/todos/a/b"), RouteMatch::NotFound);
    }

    #[test]
    fn the_same_method_and_path_from_two_owners_clash() {
        let err = Routes::build([binding("GET", "/a", "one", 1), binding("GET", "/a", "two", 2)])
            .unwrap_err();
        assert_eq!(err.owner, "two");
        assert_eq!(err.other_owner, "one");
        assert!(err.to_string().contains("GET /a of two clashes with /a of one"));
    }

    #[test]
    fn differently_named_parameters_in_the_same_place_clash() {
        let routes = Routes::build([
            binding("GET", "/a/:id", "one", 1),
            binding("POST", "/a/:key", "two", 2),
        ])
        .unwrap();
        assert!(matches!(
            routes.find("POST", "/a/7"),
            RouteMatch::Found { route: "/a/:key", params, .. } if params == vec![("key".to_string(), "7".to_string())]
        ));
        let err = Routes::build([
            binding("GET", "/a/:id", "one", 1),
            binding("GET", "/a/:key", "two", 2),
        ])
        .unwrap_err();
        assert_eq!(err.other_path, "/a/:id");
    }

    #[test]
    fn matching_cost_does_not_depend_on_the_number_of_routes() {
        // Not a timing test: the tree holds 10,000 routes and still answers exactly.
        let routes =
            Routes::build((0..10_000).map(|i| binding("GET", &format!("/r{i}/:id"), "many", i)))
                .unwrap();
        assert!(matches!(routes.find("GET", "/r9999/x"), RouteMatch::Found { target: &9999, .. }));
        assert_eq!(routes.iter().count(), 10_000);
    }
}
