//! The command-line switch for the engine, shared by `sdp-emulator` and `sdp-agent demo`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{Engine, SparkEngine};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// The structural check only (no data is written).
    #[default]
    Structural,
    /// Apache Spark Declarative Pipelines from a local pyspark (`scripts/setup --spark`).
    Spark,
}

#[derive(Clone, Debug, Args)]
pub struct EngineArgs {
    /// What runs pipeline updates: `spark` validates and runs them on a local Apache Spark.
    #[arg(long, value_enum, default_value_t = EngineKind::Structural)]
    pub engine: EngineKind,
    /// The virtual environment holding `pyspark[pipelines]` (what `scripts/setup --spark` makes).
    #[arg(
        long,
        value_name = "DIR",
        env = "SDP_SPARK_VENV",
        default_value = ".venv-spark"
    )]
    pub spark_venv: PathBuf,
    /// Where each pipeline gets its private directory (spec, code, checkpoints, warehouse).
    #[arg(long, value_name = "DIR", env = "SDP_SPARK_DIR")]
    pub spark_dir: Option<PathBuf>,
    /// Real files the workspace starts with: `DIR/<catalog>/<schema>/<volume>/…` is the Unity
    /// Catalog volume's `/Volumes/<catalog>/<schema>/<volume>/…`, which pipelines read
    /// (`read_files`, Auto Loader) on the local engine.
    #[arg(long, value_name = "DIR", env = "SDP_DATA")]
    pub data: Option<PathBuf>,
}

impl EngineArgs {
    /// `--spark-dir`, or its default under the temp dir.
    pub fn spark_dir(&self) -> PathBuf {
        self.spark_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("sdp-emulator-spark"))
    }

    /// The engine these arguments choose; a clear error when Spark is chosen but missing.
    pub fn engine(&self) -> anyhow::Result<Engine> {
        Ok(match self.engine {
            EngineKind::Structural => Engine::Structural,
            EngineKind::Spark => {
                Engine::Spark(SparkEngine::new(&self.spark_venv, &self.spark_dir())?)
            }
        })
    }
}
