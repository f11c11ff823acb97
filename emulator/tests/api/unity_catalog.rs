//! Unity Catalog's metastore assignment: the workspace's default catalog, or 404 without one.

use sdp_emulator::EmulatorConfig;

use crate::start;

const PATH: &str = "/api/2.1/unity-catalog/current-metastore-assignment";

#[tokio::test]
async fn the_default_catalog_or_no_metastore() {
    let (_emulator, client) = start(EmulatorConfig {
        default_catalog_name: Some("workspace".into()),
        ..Default::default()
    })
    .await;
    let reply = client.get(PATH).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["default_catalog_name"], "workspace");
    assert!(body["metastore_id"].is_string() && body["workspace_id"].is_i64());

    let (_emulator, client) = start(EmulatorConfig {
        default_catalog_name: None,
        ..Default::default()
    })
    .await;
    let reply = client.get(PATH).await;
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "METASTORE_DOES_NOT_EXIST")
    );
}
