//! HTTP routing: a pure table from `(method, path)` to whatever the caller binds (a function).
//! Built once per registry snapshot and never mutated, so matching takes no lock. Lookup walks a
//! radix tree (`matchit`), so its cost depends on the path's length, not on how many routes
//! exist. Routes are written `/todos/:id`; `:name` segments become path parameters.

use std::collections::HashMap;

use percent_encoding::percent_decode_str;

/// An immutable routing table.
#[derive(Debug)]
pub struct Routes<T> {
    tree: matchit::Router<usize>,
    /// One entry per distinct path pattern; the tree stores indexes into it.
    paths: Vec<PathEntry<T>>,
}

/// The bindings of one path shape (`/todos/:`), one per method; few, so a vector beats a map.
#[derive(Debug)]
struct PathEntry<T> {
    methods: Vec<Binding<T>>,
}

#[derive(Debug)]
struct Binding<T> {
    method: String,
    /// Who bound it (a plugin), for clash errors.
    owner: String,
    /// The pattern as written in the manifest, e.g. `/todos/:id`. Methods sharing a shape may
    /// name its parameters differently, so each binding keeps its own.
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
        Routes { tree: matchit::Router::new(), paths: Vec::new() }
    }
}

impl<T> Routes<T> {
    /// Builds a table from `(method, path, owner, target)` bindings; `owner` names who bound the
    /// route (a plugin) in clash errors. Paths must already be valid (see
    /// [`crate::manifest::validate_route_path`]).
    pub fn build(
        bindings: impl IntoIterator<Item = (String, String, String, T)>,
    ) -> Result<Routes<T>, RouteClash> {
        let mut routes = Routes::default();
        let mut by_shape: HashMap<String, usize> = HashMap::new();
        for (method, path, owner, target) in bindings {
            let tree_path = to_matchit(&path);
            let index = match by_shape.get(&crate::manifest::route_shape(&path)) {
                Some(&index) => index,
                None => {
                    let index = routes.paths.len();
                    routes.tree.insert(tree_path, index).map_err(|e| {
                        let other = match &e {
                            matchit::InsertError::Conflict { with } => from_matchit(with),
                            other => other.to_string(),
                        };
                        let other_owner = routes
                            .paths
                            .iter()
                            .flat_map(|p| &p.methods)
                            .find(|b| {
                                crate::manifest::route_shape(&b.pattern)
                                    == crate::manifest::route_shape(&other)
                            })
                            .map_or_else(String::new, |b| b.owner.clone());
                        RouteClash {
                            method: method.clone(),
                            path: path.clone(),
                            owner: owner.clone(),
                            other_path: other,
                            other_owner,
                        }
                    })?;
                    by_shape.insert(crate::manifest::route_shape(&path), index);
                    routes.paths.push(PathEntry { methods: Vec::new() });
                    index
                }
            };
            let entry = &mut routes.paths[index];
            if let Some(other) = entry.methods.iter().find(|b| b.method == method) {
                return Err(RouteClash {
                    method,
                    path,
                    owner,
                    other_path: other.pattern.clone(),
                    other_owner: other.owner.clone(),
                });
            }
            entry.methods.push(Binding { method, owner, pattern: path, target });
        }
        Ok(routes)
    }

    /// Routes one request. `path` is the raw (still percent-encoded) request path.
    pub fn find(&self, method: &str, path: &str) -> RouteMatch<'_, T> {
        let Ok(matched) = self.tree.at(path) else {
            return RouteMatch::NotFound;
        };
        let entry = &self.paths[*matched.value];
        match entry.methods.iter().find(|b| b.method == method) {
            Some(binding) => {
                // The tree names parameters after the first binding of this shape; this
                // binding's own names are its pattern's `:name` segments, in the same order.
                let names = binding.pattern.split('/').filter_map(|s| s.strip_prefix(':'));
                let params = names
                    .zip(matched.params.iter())
                    .map(|(name, (_, value))| {
                        (name.to_string(), percent_decode_str(value).decode_utf8_lossy().into())
                    })
                    .collect();
                RouteMatch::Found { target: &binding.target, route: &binding.pattern, params }
            }
            None => RouteMatch::MethodNotAllowed {
                allow: entry.methods.iter().map(|b| b.method.as_str()).collect(),
            },
        }
    }

    /// Every binding as `(method, pattern, target)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &T)> {
        self.paths
            .iter()
            .flat_map(|p| &p.methods)
            .map(|b| (b.method.as_str(), b.pattern.as_str(), &b.target))
    }
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
        assert!(matches!(routes.find("GET", "/todos/toggle"), RouteMatch::MethodNotAllowed { .. }));
        assert!(matches!(routes.find("GET", "/todos/x"), RouteMatch::Found { target: &4, .. }));
    }

    #[test]
    fn a_known_path_with_another_method_lists_the_allowed_ones() {
        let routes = todos();
        assert_eq!(
            routes.find("DELETE", "/todos"),
            RouteMatch::MethodNotAllowed { allow: vec!["POST", "GET"] }
        );
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
