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

/// `--data DIR`: `DIR/<catalog>/<schema>/<volume>` is an EXTERNAL volume whose files are the
/// directory's, read and written through the Files API.
#[tokio::test]
async fn a_data_directory_mounts_its_volumes() {
    let dir = std::env::temp_dir().join(format!("sdp-emulator-data-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("main/raw/events/2025")).unwrap();
    std::fs::write(dir.join("main/raw/events/2025/a.json"), "{\"id\": 1}\n").unwrap();
    let (emulator, client) = start(EmulatorConfig {
        data: Some(dir.clone()),
        ..Default::default()
    })
    .await;
    let volume = client
        .get("/api/2.1/unity-catalog/volumes/main.raw.events")
        .await
        .json();
    assert_eq!(volume["volume_type"], "EXTERNAL");
    assert_eq!(
        volume["storage_location"],
        format!("file://{}", dir.join("main/raw/events").display())
    );
    let got = client
        .raw(
            "GET",
            "/api/2.0/fs/files/Volumes/main/raw/events/2025/a.json",
            "",
        )
        .await;
    assert_eq!((got.status, got.text.as_str()), (200, "{\"id\": 1}\n"));
    let put = client
        .raw(
            "PUT",
            "/api/2.0/fs/files/Volumes/main/raw/events/b.json",
            "{}",
        )
        .await;
    assert_eq!(put.status, 204);
    assert_eq!(
        std::fs::read_to_string(dir.join("main/raw/events/b.json")).unwrap(),
        "{}"
    );
    assert_eq!(
        emulator
            .volume_file("/Volumes/main/raw/events/b.json")
            .unwrap(),
        b"{}"
    );
    let again = client
        .raw(
            "PUT",
            "/api/2.0/fs/files/Volumes/main/raw/events/b.json",
            "{}",
        )
        .await;
    assert_eq!(again.status, 409);
    std::fs::remove_dir_all(&dir).ok();
}
