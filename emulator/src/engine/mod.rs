//! What runs a pipeline update's code: the source files a pipeline's libraries name, a cheap
//! structural check of them (always), and optionally Apache Spark Declarative Pipelines, which
//! dry-runs `validate_only` updates and really runs the others. Their findings become
//! Databricks-shaped events (`events.rs`).

mod args;
mod auto_cdc;
mod dialect;
pub mod events;
mod expectations;
mod job;
mod names;
mod python;
mod read_files;
mod sources;
pub mod spark;
mod sql;
mod structure;

use std::collections::BTreeMap;

pub use args::{EngineArgs, EngineKind};
pub use job::{Started, UpdateRef, start, target_of};
pub use sources::{Language, SourceFile, collect};
pub use spark::SparkEngine;
pub use structure::{Target, check};

/// Which engine executes updates.
#[derive(Clone, Debug, Default)]
pub enum Engine {
    /// The structural check only: syntax shape and the dataset graph, no data.
    #[default]
    Structural,
    /// Apache Spark Declarative Pipelines from a local pyspark install.
    Spark(SparkEngine),
}

/// One thing wrong with a pipeline's code, as the engine that found it reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The flow (dataset) it belongs to, when it belongs to one.
    pub flow: Option<String>,
    /// The workspace file it is in, when known.
    pub file: Option<String>,
    /// Spark's error class, e.g. `TABLE_OR_VIEW_NOT_FOUND`; empty when the engine gave none.
    pub class: String,
    /// The whole message, starting with `[CLASS]` when there is a class.
    pub message: String,
    /// The exception class the engine reported (JVM or Python), as the event carries it.
    pub exception: String,
}

pub const ANALYSIS_EXCEPTION: &str = "org.apache.spark.sql.AnalysisException";
pub const PARSE_EXCEPTION: &str = "org.apache.spark.sql.catalyst.parser.ParseException";

impl Problem {
    pub fn new(class: &str, message: impl Into<String>, exception: impl Into<String>) -> Problem {
        let message = message.into();
        Problem {
            flow: None,
            file: None,
            class: class.to_string(),
            message: if class.is_empty() {
                message
            } else {
                format!("[{class}] {message}")
            },
            exception: exception.into(),
        }
    }

    pub fn in_file(mut self, file: &str) -> Problem {
        self.file = Some(file.to_string());
        self
    }

    pub fn in_flow(mut self, flow: &str) -> Problem {
        self.flow = Some(flow.to_string());
        self
    }
}

/// What kind of dataset a statement or decorator defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    MaterializedView,
    StreamingTable,
    View,
}

impl DatasetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::MaterializedView => "MATERIALIZED_VIEW",
            DatasetKind::StreamingTable => "STREAMING_TABLE",
            DatasetKind::View => "VIEW",
        }
    }
}

/// A flow: the query that fills one dataset from its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub name: String,
    /// The dataset it writes.
    pub output: String,
    /// Datasets and tables it reads, as written (without a `LIVE.` prefix).
    pub inputs: Vec<String>,
    /// Whether it reads its inputs as streams.
    pub streaming: bool,
    /// The inputs it reads as streams (`STREAM(x)`, `spark.readStream.table("x")`).
    pub streamed: Vec<String>,
}

/// The graph the structural check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// Datasets by name, in definition order.
    pub datasets: Vec<(String, DatasetKind)>,
    pub flows: Vec<Flow>,
}

/// A table a run wrote, as checks after the run see it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableShape {
    pub columns: Vec<String>,
    /// Distinct non-null values of each column of a plain type (not array, map or struct).
    pub distinct: BTreeMap<String, u64>,
}

/// How an update's code fared.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Empty = success.
    pub problems: Vec<Problem>,
    /// Things worth a WARN event that did not fail the update (e.g. expectations that are only
    /// reported).
    pub warnings: Vec<String>,
    pub graph: Graph,
    /// Rows in each table the run wrote (real Spark runs only), by dataset name.
    pub tables: BTreeMap<String, u64>,
    /// The columns of each table the run wrote and their distinct values (Spark runs only).
    pub shapes: BTreeMap<String, TableShape>,
    /// Spark's own progress messages, in order (Spark runs only).
    pub messages: Vec<String>,
    /// The expectations' counts of each dataset that has some (Spark runs only), by name.
    pub quality: BTreeMap<String, Quality>,
}

/// A dataset's data quality in a run, as `flow_progress.data_quality` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Quality {
    /// Rows its flows read (before DROP ROW expectations).
    pub input_rows: u64,
    /// Rows DROP ROW expectations removed.
    pub dropped: u64,
    pub expectations: Vec<ExpectationCounts>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct ExpectationCounts {
    pub name: String,
    pub passed: u64,
    pub failed: u64,
}

impl Verdict {
    pub fn failed(&self) -> bool {
        !self.problems.is_empty()
    }
}
