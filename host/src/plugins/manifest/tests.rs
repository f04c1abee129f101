use super::*;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(Path::new("/p/todos/plugin.toml"), text)
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const TODOS: &str = r#"
name = "todos"
component = "todos.wasm"

[functions.create]
triggers = [{ type = "http", method = "POST", path = "/todos" }]

[functions.on-change]
triggers = [{ type = "state", scope = "todos" }]

[functions.watch]
triggers = [{ type = "stream", stream_name = "todos-live" }]

[functions.helper]

[capabilities]
state_read = ["todos"]
"#;

#[test]
fn a_valid_manifest_parses_into_functions_and_triggers() {
    let m = parse(TODOS).unwrap();
    assert_eq!(m.name, "todos");
    assert_eq!(m.component, PathBuf::from("/p/todos/todos.wasm"));
    assert_eq!(m.functions.len(), 4);
    assert_eq!(
        m.functions["create"].triggers,
        vec![Trigger::Http(HttpTrigger {
            method: "POST".into(),
            path: "/todos".into(),
            auth: RouteAuth::Optional
        })]
    );
    assert_eq!(
        m.functions["on-change"].triggers,
        vec![Trigger::State(StateTrigger {
            scope: Some("todos".into()),
            key: None,
            condition: None
        })]
    );
    assert!(m.functions["helper"].triggers.is_empty());
}

#[test]
fn an_unknown_top_level_key_is_an_error_with_its_line() {
    let e = error_of("name = \"a\"\ncomponent = \"a.wasm\"\ncolour = \"red\"\n");
    assert!(e.starts_with("/p/todos/plugin.toml:3: "), "{e}");
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn an_unknown_trigger_key_is_an_error_with_its_line() {
    let e = error_of(
        "name = \"a\"\ncomponent = \"a.wasm\"\n[functions.f]\ntriggers = [{ type = \"http\", method = \"GET\", path = \"/a\", verb = 1 }]\n",
    );
    assert!(e.starts_with("/p/todos/plugin.toml:4: "), "{e}");
    assert!(e.contains("verb"), "{e}");
}

#[test]
fn an_unknown_trigger_type_is_an_error() {
    let e = error_of(
        "name = \"a\"\ncomponent = \"a.wasm\"\n[functions.f]\ntriggers = [{ type = \"cron\" }]\n",
    );
    assert!(e.contains(":4: ") && e.contains("cron"), "{e}");
}

#[test]
fn a_missing_component_is_an_error() {
    let e = error_of("name = \"a\"\n");
    assert!(e.contains("component"), "{e}");
}

#[test]
fn invalid_toml_names_the_line() {
    let e = error_of("name = \"a\"\ncomponent = \n");
    assert!(e.starts_with("/p/todos/plugin.toml:2: "), "{e}");
}

#[test]
fn a_plugin_name_must_be_kebab_case() {
    let e = error_of("name = \"Todos\"\ncomponent = \"a.wasm\"\n");
    assert!(e.contains(":1: ") && e.contains("kebab-case"), "{e}");
}

#[test]
fn a_function_name_must_be_kebab_case() {
    let e = error_of("name = \"a\"\ncomponent = \"a.wasm\"\n\n[functions.on_change]\n");
    assert!(e.contains(":4: ") && e.contains("on_change"), "{e}");
}

#[test]
fn an_unknown_method_is_an_error() {
    let e = error_of(
        "name = \"a\"\ncomponent = \"a.wasm\"\n[functions.f]\ntriggers = [{ type = \"http\", method = \"PSOT\", path = \"/a\" }]\n",
    );
    assert!(e.contains(":4: ") && e.contains("PSOT"), "{e}");
}

#[test]
fn routes_under_the_reserved_prefix_are_refused() {
    let e = error_of(
        "name = \"a\"\ncomponent = \"a.wasm\"\n[functions.f]\ntriggers = [{ type = \"http\", method = \"GET\", path = \"/_eddy/x\" }]\n",
    );
    assert!(e.contains("reserves"), "{e}");
}

#[test]
fn the_same_route_bound_twice_in_one_plugin_is_an_error() {
    let e = error_of(
        "name = \"a\"\ncomponent = \"a.wasm\"\n[functions.f]\ntriggers = [{ type = \"http\", method = \"GET\", path = \"/a/:id\" }]\n[functions.g]\ntriggers = [{ type = \"http\", method = \"GET\", path = \"/a/:key\" }]\n",
    );
    assert!(e.contains(":6: ") && e.contains("twice"), "{e}");
}

#[test]
fn route_paths_are_checked_segment_by_segment() {
    assert!(validate_route_path("/todos/:id/tags").is_ok());
    assert!(validate_route_path("/").is_ok());
    assert!(validate_route_path("todos").is_err());
    assert!(validate_route_path("/todos//x").is_err());
    assert!(validate_route_path("/todos/:").is_err());
    assert!(validate_route_path("/a/:id/:id").is_err());
    assert!(validate_route_path("/a/b:c").is_err());
    assert!(validate_route_path("/a/{b}").is_err());
    assert!(validate_route_path("/_eddy").is_err());
    assert!(validate_route_path("/_eddyx").is_ok());
}

#[test]
fn a_trigger_on_a_scope_the_plugin_may_not_read_is_an_error_with_its_line() {
    let e = error_of(
        "name = \"a\"\ncomponent = \"a.wasm\"\n[functions.f]\ntriggers = [{ type = \"state\", scope = \"todos\" }]\n",
    );
    assert!(e.contains(":4: ") && e.contains("state_read"), "{e}");
    let ok = "name = \"a\"\ncomponent = \"a.wasm\"\n[capabilities]\nstate = [\"todo*\"]\n\
              [functions.f]\ntriggers = [{ type = \"state\", scope = \"todos\" }]\n";
    assert!(parse(ok).is_ok());
}

#[test]
fn a_condition_must_be_a_function_id() {
    let e = error_of(
        "name = \"a\"\ncomponent = \"a.wasm\"\n[functions.f]\ntriggers = [{ type = \"state\", condition = \"nope\" }]\n",
    );
    assert!(e.contains("function id"), "{e}");
    assert!(is_function_id("state::list_groups"));
    assert!(is_function_id("todos::on-change"));
    assert!(!is_function_id("todos:on-change"));
}

#[test]
fn limits_capabilities_timeouts_and_stream_authorisers_parse() {
    let m = parse(
        "name = \"a\"\ncomponent = \"a.wasm\"\n[limits]\nmemory_mib = 32\ntimeout_ms = 2000\n\
         [capabilities]\nstate = [\"todos\", \"cache-*\"]\nstate_read = [\"config\"]\nstreams = [\"live\"]\n\
         [streams.live]\njoin = \"a::can-join\"\n[functions.f]\ntimeout_ms = 100\n",
    )
    .unwrap();
    assert_eq!(
        m.limits,
        Limits { memory_mib: Some(32), timeout_ms: Some(2000), concurrency: None }
    );
    assert_eq!(m.functions["f"].timeout_ms, Some(100));
    assert_eq!(m.stream_authorizers["live"], "a::can-join");
    let caps = &m.capabilities;
    assert!(caps.may_write("todos") && caps.may_write("cache-users") && !caps.may_write("config"));
    assert!(caps.may_read("config") && caps.may_read("todos") && !caps.may_read("secrets"));
    assert!(caps.may_stream("live") && !caps.may_stream("other"));
}

#[test]
fn a_plugin_without_capabilities_may_touch_nothing() {
    let m = parse("name = \"a\"\ncomponent = \"a.wasm\"\n").unwrap();
    assert!(!m.capabilities.may_read("todos") && !m.capabilities.may_stream("live"));
    let star = Capabilities { state: vec!["*".into()], ..Default::default() };
    assert!(star.may_write("anything"));
}

#[test]
fn out_of_range_timeouts_and_limits_are_errors_with_their_line() {
    let e = error_of("name = \"a\"\ncomponent = \"a.wasm\"\n[functions.f]\ntimeout_ms = 0\n");
    assert!(e.contains(":4: ") && e.contains("timeout_ms"), "{e}");
    let e = error_of("name = \"a\"\ncomponent = \"a.wasm\"\n[limits]\nmemory_mib = 0\n");
    assert!(e.contains("memory_mib"), "{e}");
    let e = error_of("name = \"a\"\ncomponent = \"a.wasm\"\n[capabilities]\nfiles = [\"/\"]\n");
    assert!(e.contains(":4: ") && e.contains("files"), "{e}");
    let e = error_of("name = \"a\"\ncomponent = \"a.wasm\"\n[streams.live]\njoin = \"nope\"\n");
    assert!(e.contains(":4: ") && e.contains("function id"), "{e}");
}

#[test]
fn an_absolute_component_path_is_refused() {
    let e = error_of("name = \"a\"\ncomponent = \"/etc/a.wasm\"\n");
    assert!(e.contains(":2: "), "{e}");
}

#[test]
fn a_concurrency_of_zero_is_refused() {
    let e = error_of("name = \"a\"\ncomponent = \"a.wasm\"\n[limits]\nconcurrency = 0\n");
    assert!(e.contains("concurrency must be at least 1"), "{e}");
}

#[test]
fn a_route_may_require_a_signed_in_caller_and_only_that() {
    let text = "name = \"a\"\ncomponent = \"a.wasm\"\n[functions.me]\n\
                triggers = [{ type = \"http\", method = \"GET\", path = \"/me\", auth = \"required\" }]\n";
    let m = parse(text).unwrap();
    let Trigger::Http(route) = &m.functions["me"].triggers[0] else { panic!("not http") };
    assert_eq!(route.auth, RouteAuth::Required);
    let e = error_of(&text.replace("\"required\"", "\"always\""));
    assert!(e.contains("unknown variant `always`"), "{e}");
}

#[test]
fn static_files_are_a_folder_of_the_plugin_mounted_at_a_path() {
    let m =
        parse("name = \"a\"\ncomponent = \"a.wasm\"\n[static]\ndir = \"public\"\npath = \"/\"\n")
            .unwrap();
    let mount = m.statics.expect("a mount");
    assert_eq!((mount.dir, mount.path), (PathBuf::from("/p/todos/public"), "/".to_string()));
    for (table, wanted) in [
        ("dir = \"..\"\npath = \"/\"", "inside the plugin"),
        ("dir = \"public\"\npath = \"/_eddy/x\"", "reserves"),
        ("dir = \"public\"\npath = \"/:page\"", "literal segments"),
        ("dir = \"public\"", "path"),
        ("dir = \"public\"\npath = \"/\"\nindex = \"x\"", "index"),
    ] {
        let e = error_of(&format!("name = \"a\"\ncomponent = \"a.wasm\"\n[static]\n{table}\n"));
        assert!(e.starts_with("/p/todos/plugin.toml:") && e.contains(wanted), "{table}: {e}");
    }
}
