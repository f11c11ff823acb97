//! SCIM identities: `Me` per token with its groups, users found by name, tokens of users
//! accepted everywhere.

use sdp_emulator::{EmulatorConfig, WorkspaceUser};

use crate::{encode, start};

const ME: &str = "/api/2.0/preview/scim/v2/Me";

fn group_names(user: &serde_json::Value) -> Vec<String> {
    user["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g["display"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn me_answers_the_owner_of_each_token() {
    let alice = WorkspaceUser::new("alice@example.com").in_groups(&["data-eng", "users"]);
    let (emulator, owner) = start(EmulatorConfig {
        users: vec![("dapi-alice".into(), alice)],
        ..Default::default()
    })
    .await;
    let me = owner.get(ME).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["userName"], "sdp-agent@example.com");
    assert_eq!(group_names(&me.json()), ["admins"]);

    let as_alice = crate::Client::new(&emulator).with_token(Some("dapi-alice"));
    let me = as_alice.get(ME).await.json();
    assert_eq!(me["userName"], "alice@example.com");
    assert_eq!(me["active"], true);
    assert_eq!(me["emails"][0]["value"], "alice@example.com");
    assert_eq!(group_names(&me), ["data-eng", "users"]);
    assert!(
        me["groups"][0]["value"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    // A user's token is a workspace token like any other.
    assert_eq!(as_alice.get("/api/2.0/pipelines").await.status, 200);

    // Added while running; an unknown token is refused before any route.
    emulator.add_user("dapi-bob", WorkspaceUser::new("bob@example.com"));
    let bob = crate::Client::new(&emulator).with_token(Some("dapi-bob"));
    let me = bob.get(ME).await.json();
    assert_eq!(
        (me["userName"].as_str(), group_names(&me).len()),
        (Some("bob@example.com"), 0)
    );
    let stranger = crate::Client::new(&emulator).with_token(Some("dapi-nobody"));
    let reply = stranger.get(ME).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (401, "UNAUTHENTICATED")
    );
}

#[tokio::test]
async fn an_oauth_token_belongs_to_its_service_principal() {
    let (emulator, _) = start(EmulatorConfig {
        oauth_clients: vec![("app-1234".into(), "secret".into())],
        ..Default::default()
    })
    .await;
    let (status, grant) = crate::oauth::token_request(
        &emulator,
        Some(&crate::oauth::basic("app-1234", "secret")),
        crate::oauth::FORM,
        "grant_type=client_credentials&scope=all-apis",
    )
    .await;
    assert_eq!(status, 200, "{grant}");
    let token = grant["access_token"].as_str().expect("a token");
    let principal = crate::Client::new(&emulator).with_token(Some(token));
    let me = principal.get(ME).await.json();
    assert_eq!(me["userName"], "app-1234");
    assert!(me.get("emails").is_none(), "{me}");
}

#[tokio::test]
async fn users_are_found_by_name() {
    let carol = WorkspaceUser::new("carol@example.com").in_groups(&["analysts"]);
    let (_emulator, owner) = start(EmulatorConfig {
        users: vec![("dapi-carol".into(), carol)],
        ..Default::default()
    })
    .await;
    let filter = encode(r#"userName eq "Carol@Example.com""#);
    let list = owner
        .get(&format!("/api/2.0/preview/scim/v2/Users?filter={filter}"))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let list = list.json();
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["userName"], "carol@example.com");
    assert_eq!(group_names(&list["Resources"][0]), ["analysts"]);

    let nobody = encode(r#"userName eq "nobody@example.com""#);
    let list = owner
        .get(&format!("/api/2.0/preview/scim/v2/Users?filter={nobody}"))
        .await
        .json();
    assert_eq!(
        (
            list["totalResults"].as_i64(),
            list["Resources"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );

    let all = owner.get("/api/2.0/preview/scim/v2/Users").await.json();
    assert_eq!(all["totalResults"], 2, "the owner and carol: {all}");

    let bad = owner
        .get(&format!(
            "/api/2.0/preview/scim/v2/Users?filter={}",
            encode("displayName co \"c\"")
        ))
        .await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["detail"]
            .as_str()
            .unwrap()
            .contains("Unsupported filter"),
        "{}",
        bad.text
    );
}
