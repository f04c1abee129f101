use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::json;

use super::*;

const SECRET: &str = "a-development-secret-of-32-bytes!";
const ISSUER: &str = "https://id.example.com/";
const AUDIENCE: &str = "https://api.example.com";

/// A public RSA key (the private half was thrown away): tokens can only claim to be for it.
const RSA_JWKS: &str = r#"{"keys":[{"kty":"RSA","kid":"k1","use":"sig","e":"AQAB","n":"sV0EovGlmISEdwFgZyH0w7eRBIvLoHiuyxFn5s2g45y8VoQg9YPZjLqZHOun9h6p-RKY09lnoXjL5VWJ4kf24ac-dusVrdiW_zoQxxq_ajKMhrPQgdA0KKMbtxClPedcP40eo12Szf015USquqq1XSyyhRcGyaNFINHycJTVx1ayF8tm7B7LmUjm_wIVHW9n9_yxjvgRcqUMQUndcBnzJXs5GQk3w1QyfS36LcWu1O2chwivb8iXxeZS-Tv09fP4gETnuZ-mA59EKNLMYDK4VMlFNFGg0rR8W362Z5a4oTvwXuXRugdrXOyKaHWHoz6wAX0UfEijJ8mXtvd7Uj3rJw"}]}"#;

fn provider(name: &str, issuer: &str, keys: KeySource) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        issuer: issuer.into(),
        audiences: vec![AUDIENCE.into()],
        keys,
        leeway: Duration::from_secs(5),
    }
}

fn dev() -> Authenticator {
    Authenticator::new(&[provider("dev", ISSUER, KeySource::Hs256(SECRET.into()))]).unwrap()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims() -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "exp": now() + 60, "role": "admin" })
}

fn signed(claims: &Value, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).unwrap();
    encode(&Header::default(), claims, &key).unwrap()
}

fn with(changes: Value) -> Value {
    let mut claims = claims();
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

#[tokio::test]
async fn a_valid_token_is_an_identity_with_its_subject_and_claims() {
    let identity = dev().verify(&signed(&claims(), SECRET)).await.unwrap();
    assert_eq!(identity.provider, "dev");
    assert_eq!(identity.subject, "ada");
    assert_eq!(identity.issuer, ISSUER);
    assert_eq!(identity.claims["role"], "admin");
    assert_eq!(identity.to_json()["subject"], "ada");
}

#[tokio::test]
async fn each_broken_token_is_refused_with_its_reason() {
    let auth = dev();
    let cases = [
        (signed(&with(json!({"exp": now() - 60})), SECRET), AuthError::Expired),
        (signed(&with(json!({"nbf": now() + 60})), SECRET), AuthError::NotYetValid),
        (signed(&with(json!({"aud": "https://other.example"})), SECRET), AuthError::WrongAudience),
        (signed(&with(json!({"iss": "https://evil.example/"})), SECRET), AuthError::UnknownIssuer),
        (signed(&claims(), "another-secret-of-thirty-two-byte"), AuthError::BadSignature),
        (signed(&with(json!({"sub": null})), SECRET), AuthError::MissingClaim),
        (signed(&with(json!({"exp": null})), SECRET), AuthError::MissingClaim),
        ("not.a.jwt".to_string(), AuthError::Malformed),
        ("".to_string(), AuthError::Malformed),
    ];
    for (token, expected) in cases {
        assert_eq!(auth.verify(&token).await.unwrap_err(), expected, "{token}");
    }
}

#[tokio::test]
async fn the_leeway_forgives_a_little_clock_difference() {
    let token = signed(&with(json!({"exp": now() - 2})), SECRET);
    assert!(dev().verify(&token).await.is_ok(), "2 s past exp, within the 5 s leeway");
}

fn b64(value: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn an_unsigned_token_is_refused() {
    let header = b64(&json!({"alg": "none", "typ": "JWT"}));
    let token = format!("{header}.{}.", b64(&claims()));
    assert_eq!(dev().verify(&token).await.unwrap_err(), AuthError::Malformed);
}

#[tokio::test]
async fn a_token_cannot_choose_hmac_with_a_providers_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, RSA_JWKS).unwrap();
    let auth = Authenticator::new(&[provider("idp", ISSUER, KeySource::JwksFile(jwks))]).unwrap();
    // The classic confusion: HS256 keyed with the public key's bytes, naming the RSA key.
    let header = Header { kid: Some("k1".into()), ..Header::new(jsonwebtoken::Algorithm::HS256) };
    let public: Value = serde_json::from_str::<Value>(RSA_JWKS).unwrap()["keys"][0].clone();
    let key = EncodingKey::from_secret(public["n"].as_str().unwrap().as_bytes()).unwrap();
    let token = encode(&header, &claims(), &key).unwrap();
    assert_eq!(auth.verify(&token).await.unwrap_err(), AuthError::WrongAlgorithm);
    // A key id the provider lacks, too.
    let header = Header { kid: Some("k9".into()), ..Header::new(jsonwebtoken::Algorithm::HS256) };
    let token = encode(&header, &claims(), &key).unwrap();
    assert_eq!(auth.verify(&token).await.unwrap_err(), AuthError::UnknownKey);
}

#[test]
fn a_jwks_without_a_usable_signing_key_or_an_unreadable_file_is_an_error() {
    let symmetric = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#;
    assert!(super::super::keys::parse_jwks(symmetric).is_err(), "never a secret from a JWKS");
    assert_eq!(super::super::keys::parse_jwks(RSA_JWKS).unwrap().len(), 1);
    let missing = KeySource::JwksFile("/no/such/jwks.json".into());
    let error = Authenticator::new(&[provider("idp", ISSUER, missing)]).unwrap_err();
    assert!(error.contains("auth provider idp: cannot read the JWKS file"), "{error}");
}

#[test]
fn only_a_bearer_authorization_carries_a_token() {
    assert_eq!(bearer_token(b"Bearer abc.def.ghi"), Some("abc.def.ghi"));
    assert_eq!(bearer_token(b"bearer  abc"), Some("abc"));
    assert_eq!(bearer_token(b"Basic dXNlcjpwYXNz"), None);
    assert_eq!(bearer_token(b"Bearer "), None);
    assert_eq!(bearer_token(b"Bearer"), None);
}

#[test]
fn secrets_never_show_in_debug_output() {
    let config = provider("dev", ISSUER, KeySource::Hs256(SECRET.into()));
    assert!(!format!("{config:?}").contains(SECRET));
}
