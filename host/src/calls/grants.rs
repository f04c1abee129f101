//! The capability check: whether a plugin's manifest grants what one of its requests touches.
//! Every request a guest makes — through a WIT import or a builtin called by id — passes
//! [`check`] before anything is read, written or sent (`calls/mod.rs`, `Calls::perform`), so
//! this file is the whole of what a plugin may do. What the grants mean: `docs/plugins.md`.

use crate::error::{Error, ErrorCode};
use crate::plugins::manifest::Capabilities;
use crate::runtime::Request;

/// Fails with `forbidden` unless `capabilities` (plugin `plugin`'s) allow `request`.
///
/// - State reads (`get`, `list`) need the scope in `state` or `state_read`; writes (`set`,
///   `update`, `delete`) need it in `state`. `list_groups` is always allowed and lists only the
///   scopes the plugin may read.
/// - Stream sends and every item operation need the stream in `streams`.
/// - `invoke` is allowed: the function called runs under its own plugin's grants, and a builtin
///   called by id is checked as the request it stands for.
pub fn check(plugin: &str, capabilities: &Capabilities, request: &Request) -> Result<(), Error> {
    use Request::*;
    match request {
        StateGet { scope, .. } | StateList { scope, .. } => {
            if capabilities.may_read(scope) {
                return Ok(());
            }
            Err(forbidden(format!(
                "plugin {plugin} may not read state scope {scope:?}: add it to [capabilities] \
                 state or state_read in its plugin.toml"
            )))
        }
        StateSet { scope, .. } | StateUpdate { scope, .. } | StateDelete { scope, .. } => {
            if capabilities.may_write(scope) {
                return Ok(());
            }
            Err(forbidden(format!(
                "plugin {plugin} may not write state scope {scope:?}: add it to [capabilities] \
                 state in its plugin.toml"
            )))
        }
        StreamSend { stream, .. }
        | ItemGet { stream, .. }
        | ItemSet { stream, .. }
        | ItemUpdate { stream, .. }
        | ItemDelete { stream, .. }
        | ItemList { stream, .. } => {
            if capabilities.may_stream(stream) {
                return Ok(());
            }
            Err(forbidden(format!(
                "plugin {plugin} may not use stream {stream:?}: add it to [capabilities] \
                 streams in its plugin.toml"
            )))
        }
        StateListGroups | Invoke { .. } | InvokeVoid { .. } => Ok(()),
    }
}

fn forbidden(message: String) -> Error {
    Error::new(ErrorCode::Forbidden, message)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn s(text: &str) -> String {
        text.to_owned()
    }

    /// One request of every kind, touching scope `scope` and stream `stream`.
    fn every_request(scope: &str, stream: &str) -> Vec<Request> {
        let (sc, k, st, g, i) = (s(scope), s("k"), s(stream), s("g"), s("i"));
        vec![
            Request::StateGet { scope: sc.clone(), key: k.clone() },
            Request::StateSet { scope: sc.clone(), key: k.clone(), value: json!(1), expect: None },
            Request::StateUpdate {
                scope: sc.clone(),
                key: k.clone(),
                ops: json!([]),
                expect: None,
            },
            Request::StateDelete { scope: sc.clone(), key: k, expect: None },
            Request::StateList { scope: sc, prefix: None, after: None, limit: None },
            Request::StreamSend {
                stream: st.clone(),
                group: g.clone(),
                id: None,
                event_type: s("t"),
                data: Value::Null,
            },
            Request::ItemGet { stream: st.clone(), group: g.clone(), item: i.clone() },
            Request::ItemSet {
                stream: st.clone(),
                group: g.clone(),
                item: i.clone(),
                value: json!(1),
            },
            Request::ItemUpdate {
                stream: st.clone(),
                group: g.clone(),
                item: i.clone(),
                ops: json!([]),
            },
            Request::ItemDelete { stream: st.clone(), group: g.clone(), item: i },
            Request::ItemList { stream: st, group: g },
        ]
    }

    #[test]
    fn a_plugin_granted_nothing_is_refused_every_state_and_stream_request() {
        let none = Capabilities::default();
        for request in every_request("todos", "todos-live") {
            let error = check("bare", &none, &request).expect_err("refused");
            assert_eq!(error.code, ErrorCode::Forbidden, "{request:?}");
            assert!(error.message.contains("plugin bare may not"), "{}", error.message);
        }
    }

    #[test]
    fn a_plugin_granted_a_scope_and_a_stream_may_do_everything_with_them_and_nothing_else() {
        let caps = Capabilities {
            state: vec![s("todos")],
            streams: vec![s("todos-live")],
            ..Default::default()
        };
        for request in every_request("todos", "todos-live") {
            assert!(check("p", &caps, &request).is_ok(), "{request:?}");
        }
        for request in every_request("secrets", "admin-live") {
            assert!(check("p", &caps, &request).is_err(), "{request:?}");
        }
    }

    #[test]
    fn a_read_only_scope_may_be_read_but_not_written() {
        let caps = Capabilities { state_read: vec![s("config")], ..Default::default() };
        let get = Request::StateGet { scope: s("config"), key: s("k") };
        let list =
            Request::StateList { scope: s("config"), prefix: None, after: None, limit: None };
        let set =
            Request::StateSet { scope: s("config"), key: s("k"), value: json!(1), expect: None };
        assert!(check("p", &caps, &get).is_ok() && check("p", &caps, &list).is_ok());
        let error = check("p", &caps, &set).expect_err("refused");
        assert!(
            error.message.contains("may not write state scope \"config\""),
            "{}",
            error.message
        );
    }

    #[test]
    fn listing_groups_and_invoking_need_no_grant() {
        let none = Capabilities::default();
        let invoke = Request::Invoke { function: s("todos::list"), payload: Value::Null };
        let queue = Request::InvokeVoid { function: s("state::set"), payload: Value::Null };
        for request in [Request::StateListGroups, invoke, queue] {
            assert!(check("p", &none, &request).is_ok(), "{request:?}");
        }
    }
}
