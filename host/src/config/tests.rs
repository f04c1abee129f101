use super::*;

const FULL: &str = r#"
listen = "0.0.0.0:8080"
plugins = "functions"
data = "/var/lib/eddy"
memory = false

[admin]
token_env = "EDDY_ADMIN_TOKEN"

[cors]
allow_origins = ["https://App.example.com", "http://localhost:5173"]
allow_credentials = true
expose_headers = ["X-Request-Id"]
max_age_secs = 60

[limits]
max_body_bytes = 65536
request_timeout_ms = 10000
call_timeout_ms = 2000
call_memory_mib = 32
instances = 128
plugin_concurrency = 16

[delivery]
max_attempts = 3
retry_backoff_ms = 50
"#;

fn env(name: &str) -> Option<String> {
    (name == "EDDY_ADMIN_TOKEN").then(|| "0123456789abcdef0123".to_string())
}

fn parse(text: &str) -> Result<Config, FileError> {
    Config::parse(Path::new("/etc/eddy/eddy.toml"), text, env)
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn every_setting_of_a_full_file_reaches_the_serve_options() {
    let mut options = ServeOptions::new("plugins", ".eddy");
    parse(FULL).unwrap().apply(&mut options);
    assert_eq!(options.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(options.plugins, PathBuf::from("/etc/eddy/functions"));
    assert_eq!(options.data, PathBuf::from("/var/lib/eddy"));
    assert_eq!(options.admin.token.as_deref(), Some("0123456789abcdef0123"));
    assert_eq!(
        options.cors.allow_origins,
        AllowedOrigins::List(vec![
            "https://app.example.com".into(),
            "http://localhost:5173".into()
        ])
    );
    assert!(options.cors.allow_credentials);
    assert_eq!(options.cors.expose_headers, ["x-request-id"]);
    assert_eq!(options.cors.allow_headers, ["authorization", "content-type"]);
    assert_eq!(options.cors.max_age, Duration::from_secs(60));
    assert_eq!(options.http.max_body_bytes, 65536);
    assert_eq!(options.http.request_timeout, Duration::from_secs(10));
    assert_eq!(options.instances.timeout, Duration::from_secs(2));
    assert_eq!(options.instances.memory_bytes, 32 << 20);
    assert_eq!(options.instances.concurrent_instances, 128);
    assert_eq!(options.instances.plugin_concurrency, 16);
    assert_eq!(options.delivery.max_attempts, 3);
    assert_eq!(options.delivery.first_backoff, Duration::from_millis(50));
}

#[test]
fn an_empty_file_changes_nothing() {
    let mut options = ServeOptions::new("plugins", ".eddy");
    parse("").unwrap().apply(&mut options);
    let defaults = ServeOptions::new("plugins", ".eddy");
    assert_eq!(options.listen, defaults.listen);
    assert_eq!(options.plugins, defaults.plugins);
    assert!(options.admin.token.is_none());
    assert_eq!(options.cors, defaults.cors);
    assert_eq!(options.instances.plugin_concurrency, defaults.instances.plugin_concurrency);
}

#[test]
fn an_unknown_key_is_an_error_on_its_line() {
    let error = error_of("listen = \"127.0.0.1:1\"\n[limits]\nmax_body = 1\n");
    assert!(error.starts_with("/etc/eddy/eddy.toml:3: unknown field `max_body`"), "{error}");
}

#[test]
fn bad_values_name_their_line_and_what_to_write() {
    let cases = [
        ("listen = \"localhost\"", 1, "must be an address like"),
        ("[cors]\nallow_origins = [\"app.example.com\"]", 2, "must look like"),
        ("[cors]\nallow_origins = [\"https://a.example/x\"]", 2, "with no path"),
        ("[cors]\nallow_origins = [\"*\"]\nallow_credentials = true", 2, "refuse credentials"),
        ("[cors]\nallow_origins = [\"*\", \"https://a.example\"]", 2, "list nothing else"),
        ("[admin]\ntoken = \"short\"", 2, "at least 16 characters"),
        ("[admin]\ntoken_env = \"NOT_SET_ANYWHERE\"", 2, "which is not set"),
        ("[admin]\ntoken = \"0123456789abcdef\"\ntoken_env = \"EDDY_ADMIN_TOKEN\"", 3, "not both"),
        ("[admin]", 1, "needs token or token_env"),
        ("[limits]\ninstances = 0", 2, "instances must be between 1"),
        ("[limits]\nplugin_concurrency = 300", 2, "plugin_concurrency must be between 1 and 256"),
        ("[limits]\ninstances = 8\nplugin_concurrency = 9", 3, "between 1 and 8"),
        ("[limits]\ncall_timeout_ms = 0", 2, "call_timeout_ms must be between"),
        ("[delivery]\nmax_attempts = 0", 2, "at least 1"),
        ("memory = \"yes\"", 1, "invalid type"),
    ];
    for (text, line, expected) in cases {
        let error = error_of(text);
        let prefix = format!("/etc/eddy/eddy.toml:{line}: ");
        assert!(error.starts_with(&prefix) && error.contains(expected), "{text:?} → {error}");
    }
}

#[test]
fn a_missing_explicit_file_is_an_error_and_no_file_at_all_is_no_settings() {
    let error = Config::find(Some(Path::new("/no/such/eddy.toml"))).unwrap_err();
    assert!(error.to_string().contains("cannot read"), "{error}");
}
