//! An update's directory: the pipeline's files as the dialect mapping leaves them, its
//! volumes, the names and checks the driver reads, and the spec `spark-pipelines` would read.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Job, Volume, VolumeFiles};
use crate::engine::names::Names;
use crate::engine::{Verdict, dialect};

/// The written directory: each local file with the workspace path it stands for, and how the
/// pipeline's names map.
pub(super) struct Prepared {
    pub files: Vec<(PathBuf, String)>,
    pub names: Names,
}

/// Writes `dir`, the pipeline's (the driver is beside it, written by the engine); None when the
/// dialect mapping already found a problem (it is in the verdict). `tag` makes the
/// pipeline's databases its own.
pub(super) fn prepare(
    job: &Job,
    tag: &str,
    dir: &Path,
    verdict: &mut Verdict,
) -> anyhow::Result<Option<Prepared>> {
    let names = Names::new(&job.catalog, &job.schema, tag, &job.tables);
    let context = dialect::Context::of(&job.files, names);
    let mut mapped = Vec::new();
    let mut checks = Vec::new();
    let mut views = Vec::new();
    let mut statements = Vec::new();
    for file in &job.files {
        match dialect::map(file, &context) {
            Ok(m) => {
                verdict.warnings.extend(m.warnings);
                checks.extend(m.checks);
                views.extend(m.views);
                statements.extend(m.statements);
                mapped.push((file, m.text, m.python));
            }
            Err(problem) => verdict.problems.push(problem),
        }
    }
    if verdict.failed() {
        return Ok(None);
    }
    let code = dir.join("transformations");
    if code.exists() {
        std::fs::remove_dir_all(&code)?;
    }
    std::fs::create_dir_all(&code)?;
    let mut files = Vec::new();
    for (i, (file, text, python)) in mapped.into_iter().enumerate() {
        let base = file.path.rsplit('/').next().unwrap_or("source");
        let local = code.join(format!("{i:02}_{base}"));
        std::fs::write(&local, text)?;
        files.push((local, file.path.clone()));
        if let Some(python) = python {
            // Errors in the companion belong to the SQL file it stands for.
            let local = code.join(format!("{i:02}_{base}_sources.py"));
            std::fs::write(&local, python)?;
            files.push((local, file.path.clone()));
        }
    }
    write_volumes(dir, &job.volumes)?;
    // What the driver counts expectations on after a run.
    let quality = json!({"checks": checks, "views": views});
    std::fs::write(
        dir.join("checks.json"),
        serde_json::to_string_pretty(&quality)?,
    )?;
    // The SQL flows whose inputs the engine reads after the run (sdp_graph.py).
    std::fs::write(
        dir.join("flows.json"),
        serde_json::to_string_pretty(&statements)?,
    )?;
    let names = context.names;
    // The --data tables it registers, and how Python's table names map.
    let mapping = json!({
        "catalog": names.catalog,
        "tag": names.tag,
        "others": names.others,
        "tables": names.local_tables(&job.tables),
    });
    std::fs::write(
        dir.join("names.json"),
        serde_json::to_string_pretty(&mapping)?,
    )?;
    // YAML is a superset of JSON: the spec is written with serde_json.
    let spec = json!({
        "name": job.name,
        "storage": format!("file://{}", dir.join("storage").display()),
        "database": names.own(&job.schema),
        "configuration": job.configuration,
        "libraries": [{"glob": {"include": "transformations/**"}}],
    });
    std::fs::write(
        dir.join("spark-pipeline.yml"),
        serde_json::to_string_pretty(&spec)?,
    )?;
    Ok(Some(Prepared { files, names }))
}

/// Makes the volumes readable where the pipeline runs: stored files are written under
/// `volumes/` of the pipeline's directory, and `volumes.json` maps each `/Volumes/c/s/v` to
/// its local directory (what `sdp_local.py` reads).
fn write_volumes(dir: &Path, volumes: &[Volume]) -> anyhow::Result<()> {
    let stored = dir.join("volumes");
    if stored.exists() {
        std::fs::remove_dir_all(&stored)?;
    }
    let mut map = serde_json::Map::new();
    for volume in volumes {
        let [c, s, v] = &volume.names;
        let local = match &volume.files {
            VolumeFiles::Dir(local) => local.clone(),
            VolumeFiles::Stored(files) => {
                let root = stored.join(c).join(s).join(v);
                std::fs::create_dir_all(&root)?;
                for (path, bytes) in files {
                    let target = path.split('/').fold(root.clone(), |p, part| p.join(part));
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(target, bytes)?;
                }
                root
            }
        };
        map.insert(
            format!("/volumes/{c}/{s}/{v}"),
            json!(local.display().to_string()),
        );
    }
    std::fs::write(
        dir.join("volumes.json"),
        serde_json::to_string_pretty(&map)?,
    )?;
    Ok(())
}
