//! `--data DIR`: a directory of real files the workspace starts with. `DIR/<catalog>/<schema>/
//! <volume>/…` is the Unity Catalog volume `catalog.schema.volume` (an EXTERNAL volume whose
//! storage is that directory), so `/Volumes/<catalog>/<schema>/<volume>/…` names its files in
//! the Files API and in pipelines run by the local engine; a file `DIR/<catalog>/<schema>/
//! <table>.json|csv|parquet` is the table `catalog.schema.table` pipelines can read.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::state::State;

/// A volume found in the data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataVolume {
    /// `[catalog, schema, volume]`, lower case as Unity Catalog stores names.
    pub names: [String; 3],
    pub dir: PathBuf,
}

/// A table found in the data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataTable {
    /// `[catalog, schema, table]`, lower case.
    pub names: [String; 3],
    pub file: PathBuf,
    /// `json` (JSON lines), `csv` (with a header) or `parquet`.
    pub format: &'static str,
}

/// Unity Catalog names: letters, digits, `_` and `-` (what the emulator accepts anywhere).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn subdirs(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        anyhow::ensure!(
            is_name(&name),
            "{}: '{name}' is not a Unity Catalog name (letters, digits, _ and -)",
            entry.path().display()
        );
        found.push((name.to_ascii_lowercase(), entry.path()));
    }
    found.sort();
    Ok(found)
}

/// Every `<catalog>/<schema>/<volume>` directory and `<catalog>/<schema>/<table>.<format>`
/// file of `dir`.
pub fn read_dir(dir: &Path) -> anyhow::Result<(Vec<DataVolume>, Vec<DataTable>)> {
    let dir = std::path::absolute(dir)?;
    anyhow::ensure!(dir.is_dir(), "--data {}: not a directory", dir.display());
    let mut volumes = Vec::new();
    let mut tables = Vec::new();
    for (catalog, catalog_dir) in subdirs(&dir)? {
        for (schema, schema_dir) in subdirs(&catalog_dir)? {
            for (volume, volume_dir) in subdirs(&schema_dir)? {
                volumes.push(DataVolume {
                    names: [catalog.clone(), schema.clone(), volume],
                    dir: volume_dir,
                });
            }
            for entry in std::fs::read_dir(&schema_dir)? {
                let file = entry?.path();
                let (Some(stem), Some(ext)) = (file.file_stem(), file.extension()) else {
                    continue;
                };
                let format = match ext.to_string_lossy().to_ascii_lowercase().as_str() {
                    "json" | "jsonl" => "json",
                    "csv" => "csv",
                    "parquet" => "parquet",
                    _ => continue,
                };
                let name = stem.to_string_lossy();
                if !file.is_file() || name.starts_with('.') {
                    continue;
                }
                anyhow::ensure!(
                    is_name(&name),
                    "{}: '{name}' is not a Unity Catalog name (letters, digits, _ and -)",
                    file.display()
                );
                tables.push(DataTable {
                    names: [catalog.clone(), schema.clone(), name.to_ascii_lowercase()],
                    file,
                    format,
                });
            }
        }
    }
    tables.sort_by(|a, b| a.names.cmp(&b.names));
    Ok((volumes, tables))
}

/// Registers the data directory's volumes in a new workspace's state.
pub fn mount(state: &mut State, dir: &Path) -> anyhow::Result<()> {
    let (volumes, tables) = read_dir(dir)?;
    state.data_tables = tables;
    for volume in volumes {
        let full_name = volume.names.join(".");
        let volume_id = state.ids.uuid();
        state
            .volumes
            .add_external(&volume.names, &volume.dir, &volume_id);
        state.files.mount(&full_name, volume.dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_levels_of_folders_are_volumes_and_files_there_tables() {
        let dir = std::env::temp_dir().join(format!("sdp-data-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("Main/raw/events/2024")).unwrap();
        std::fs::write(dir.join("Main/raw/events/2024/a.json"), "{}").unwrap();
        std::fs::create_dir_all(dir.join("samples/nyc/.hidden")).unwrap();
        std::fs::write(dir.join("README"), "").unwrap();
        std::fs::write(dir.join("Main/raw/Orders.csv"), "id\n1\n").unwrap();
        std::fs::write(dir.join("Main/raw/notes.txt"), "").unwrap();
        let (found, tables) = read_dir(&dir).unwrap();
        assert_eq!(tables.len(), 1, "{tables:?}");
        assert_eq!(tables[0].names, ["main", "raw", "orders"].map(String::from));
        assert_eq!(tables[0].format, "csv");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].names, ["main", "raw", "events"].map(String::from));
        assert!(found[0].dir.ends_with("Main/raw/events"));
        std::fs::create_dir_all(dir.join("bad name/s/v")).unwrap();
        let err = read_dir(&dir).unwrap_err().to_string();
        assert!(
            err.contains("'bad name' is not a Unity Catalog name"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
