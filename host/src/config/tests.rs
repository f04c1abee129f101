use super::*;
use crate::auth::KeySource;

const FULL: &str = r#"
listen = "0.0.0.0:8080"
plugins = "functions"
data = "/var/lib/eddy"
memory = false
state = "postgres://eddy@db.internal:5432/eddy"

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
plugin_wait_ms = 5000

[quota]
max_bytes = 1073741824

[quota.scopes]
todos = 1048576

[streams]
replay_window = 100
replay_max_age_secs = 60
max_subscriptions_per_socket = 32
max_groups_per_socket = 16
max_groups = 5000
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
    assert_eq!(options.delivery.plugin_wait, Duration::from_secs(5));
    assert_eq!(options.quota.max_bytes, Some(1 << 30));
    assert_eq!(options.quota.scopes.get("todos"), Some(&(1 << 20)));
    assert_eq!(options.state.as_deref(), Some("postgres://eddy@db.internal:5432/eddy"));
    assert_eq!(options.streams.replay_window, 100);
    assert_eq!(options.streams.replay_max_age, Duration::from_secs(60));
    assert_eq!(options.streams.max_subscriptions_per_socket, 32);
    assert_eq!(options.streams.max_groups_per_socket, 16);
    assert_eq!(options.streams.max_groups, 5000);
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
        ("state = \"mysql://db/eddy\"", 1, "must be a PostgreSQL URL"),
        ("[streams]\nreplay_max_age_secs = 0", 2, "between 1 and"),
        ("[streams]\nmax_groups = 0", 2, "max_groups must be between 1 and"),
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

const PROVIDERS: &str = r#"
[auth.providers.auth0]
issuer = "https://example.auth0.com/"
audience = "https://api.example.com"
jwks_url = "https://example.auth0.com/.well-known/jwks.json"

[auth.providers.dev]
issuer = "http://localhost:9999/"
audience = ["eddy", "eddy-admin"]
hs256_secret_env = "DEV_SECRET"
leeway_secs = 10
"#;

#[test]
fn identity_providers_are_read_with_their_keys_and_audiences() {
    let env = |name: &str| (name == "DEV_SECRET").then(|| "x".repeat(32));
    let config = Config::parse(Path::new("/etc/eddy/eddy.toml"), PROVIDERS, env).unwrap();
    let providers = config.auth.unwrap();
    assert_eq!(providers.len(), 2);
    let (auth0, dev) = (&providers[0], &providers[1]);
    assert_eq!(
        (auth0.name.as_str(), auth0.issuer.as_str()),
        ("auth0", "https://example.auth0.com/")
    );
    assert_eq!(auth0.audiences, ["https://api.example.com"]);
    assert!(matches!(&auth0.keys, KeySource::JwksUrl(url) if url.ends_with("jwks.json")));
    assert_eq!(auth0.leeway, Duration::from_secs(30), "the default leeway");
    assert_eq!(dev.audiences, ["eddy", "eddy-admin"]);
    assert!(matches!(&dev.keys, KeySource::Hs256(secret) if secret.len() == 32));
    assert_eq!(dev.leeway, Duration::from_secs(10));
}

#[test]
fn a_provider_needs_one_key_source_a_safe_url_and_a_real_secret() {
    let provider = |body: &str| {
        format!("[auth.providers.p]\nissuer = \"https://id.example/\"\naudience = \"a\"\n{body}")
    };
    let cases = [
        ("", 2, "needs its keys"),
        ("jwks_url = \"http://id.example/jwks\"", 4, "must be https"),
        ("jwks_url = \"https://id.example/jwks\"\njwks_file = \"k.json\"", 5, "give one of"),
        ("hs256_secret = \"short\"", 4, "at least 32 bytes"),
        ("hs256_secret_env = \"UNSET_SECRET\"", 4, "which is not set"),
        ("jwks_file = \"k.json\"\nleeway_secs = 3600", 5, "at most 300"),
        ("jwks_file = \"k.json\"\nalgorithm = \"none\"", 5, "unknown field `algorithm`"),
    ];
    for (body, line, expected) in cases {
        let error = error_of(&provider(body));
        let prefix = format!("/etc/eddy/eddy.toml:{line}: ");
        assert!(error.starts_with(&prefix) && error.contains(expected), "{body:?} → {error}");
    }
    let local = provider("jwks_url = \"http://127.0.0.1:8080/jwks\"");
    assert!(parse(&local).is_ok(), "plain http to this machine is allowed");
}
