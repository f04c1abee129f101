//! A socket's caller: its token's expiry and refresh, and joins decided with its identity.

use super::*;

/// An identity of `subject` whose token expires `secs` seconds from now.
fn identity(subject: &str, secs: u64) -> crate::auth::Identity {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    crate::auth::Identity {
        provider: "test".into(),
        subject: subject.into(),
        issuer: "https://id.example/".into(),
        expires_at: now + secs,
        claims: json!({"sub": subject}),
    }
}

/// A token check that takes `SUBJECT:SECONDS` for a token and refuses anything else.
fn fake_verify() -> Verify {
    Arc::new(|token: String| {
        Box::pin(async move {
            let (subject, secs) = token.split_once(':').ok_or("not a token")?;
            Ok(identity(subject, secs.parse().map_err(|_| "not a token")?))
        })
    })
}

/// Admits joins of group `own-SUBJECT` by that subject only, and records who asked.
fn own_group_only() -> Authorize {
    Arc::new(|target: Subscription, caller: Option<Arc<crate::auth::Identity>>| {
        Box::pin(
            async move { caller.is_some_and(|c| target.group_id == format!("own-{}", c.subject)) },
        )
    })
}

#[tokio::test]
async fn a_socket_whose_token_expires_is_closed_and_a_refresh_keeps_it_open() {
    let streams = hub(StreamsConfig::default());
    let access = Access {
        verify: Some(fake_verify()),
        identity: Some(identity("ada", 1)),
        ..Access::default()
    };
    let mut refreshed = TestClient::connect_with_access(&streams, None, 64, access);
    refreshed.send_json(json!({"type": "auth", "data": {"token": "ada:3600"}}));
    let access = Access { identity: Some(identity("ada", 1)), ..Access::default() };
    let mut expiring = TestClient::connect_with_access(&streams, None, 64, access);
    let (code, reason) = expiring.next_close().await;
    assert_eq!((code, reason.as_str()), (CloseCode::Policy, "token expired"));

    // Both first tokens were made together, so the expiring socket's close means the refreshed
    // socket's first token has expired too: it outlived it, and still answers.
    refreshed.join("a", "g", json!({}));
    assert_eq!(refreshed.next_frame().await["event"]["type"], "sync");
    // Its caller may not change, and a bad token is refused; it stays open.
    refreshed.send_json(json!({"type": "auth", "data": {"token": "bob:3600"}}));
    assert_eq!(refreshed.next_frame().await["error"]["code"], "forbidden");
    refreshed.send_json(json!({"type": "auth", "data": {"token": "garbage"}}));
    assert_eq!(refreshed.next_frame().await["error"]["code"], "unauthorized");
    refreshed.hang_up().await;
    expiring.hang_up().await;
}

#[tokio::test]
async fn the_join_authoriser_sees_the_sockets_identity() {
    let streams = hub(StreamsConfig::default());
    let access = Access {
        authorize: Some(own_group_only()),
        verify: Some(fake_verify()),
        ..Access::default()
    };
    let mut client = TestClient::connect_with_access(&streams, None, 64, access);
    client.join("a", "own-ada", json!({}));
    assert_eq!(client.next_frame().await["error"]["code"], "forbidden", "no identity yet");
    client.send_json(json!({"type": "auth", "data": {"token": "ada:3600"}}));
    client.join("b", "own-bob", json!({}));
    assert_eq!(client.next_frame().await["error"]["code"], "forbidden", "not ada's group");
    client.join("c", "own-ada", json!({}));
    let sync = client.next_frame().await;
    assert_eq!(
        (sync["groupId"].as_str(), sync["event"]["type"].as_str()),
        (Some("own-ada"), Some("sync"))
    );
    client.hang_up().await;
}
