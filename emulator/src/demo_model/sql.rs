//! The SDP SQL the demo model writes for each layer of a topic.

use super::topics::{EPOCH_2025, LAYERS, Topic};

/// Files the question asks to ingest: a volume path and the files' format.
pub struct Ingest {
    pub path: String,
    pub format: &'static str,
}

impl Ingest {
    /// The first `/Volumes/...` path of the question; the format named in it (json, csv or
    /// parquet), else the path's extension, else JSON.
    pub fn from_question(question: &str) -> Option<Ingest> {
        let path = question
            .split(|c: char| c.is_whitespace() || matches!(c, '`' | '\'' | '"' | '(' | ')'))
            .find(|w| w.starts_with("/Volumes/"))?
            .trim_end_matches(['.', ',', ';', ':']);
        let lower = question.to_lowercase();
        let format = ["csv", "parquet", "json"]
            .into_iter()
            .find(|f| {
                lower
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == *f)
            })
            .unwrap_or("json");
        Some(Ingest {
            path: path.to_string(),
            format,
        })
    }
}

/// SQL for one source file: the layer comes from the file name, else from its position
/// (a single file holds bronze and silver together). With `ingest`, bronze streams the files.
pub fn source_for(
    topic: &Topic,
    ingest: Option<&Ingest>,
    path: &str,
    index: usize,
    count: usize,
) -> String {
    let file = path.rsplit('/').next().unwrap_or(path).to_lowercase();
    let bronze_sql = |topic: &Topic| match ingest {
        Some(ingest) => ingest_sql(topic, ingest),
        None => bronze_sql(topic),
    };
    match LAYERS.iter().find(|l| file.contains(*l)).copied() {
        Some("bronze") => bronze_sql(topic),
        Some("silver") => silver_sql(topic),
        Some(_) => gold_sql(topic),
        None if count == 1 => format!("{}\n{}", bronze_sql(topic), silver_sql(topic)),
        None => match index {
            0 => bronze_sql(topic),
            1 => silver_sql(topic),
            _ => gold_sql(topic),
        },
    }
}

fn bronze_sql(t: &Topic) -> String {
    format!(
        "-- Bronze: synthetic raw {name} generated with range(), so the pipeline needs no external source.\n\
         CREATE OR REFRESH MATERIALIZED VIEW bronze_{name}\n\
         COMMENT 'Synthetic raw {name} records (bronze layer)'\n\
         AS SELECT\n  id AS {key},\n  {cols},\n  {EPOCH_2025} AS {ts}\n\
         FROM range(0, 10000);\n",
        name = t.name,
        key = t.key,
        ts = t.ts,
        cols = t.bronze.join(",\n  "),
    )
}

fn ingest_sql(t: &Topic, ingest: &Ingest) -> String {
    format!(
        "-- Bronze: the raw {name} files of {path}, ingested incrementally (Auto Loader's read_files).\n\
         CREATE OR REFRESH STREAMING TABLE bronze_{name}\n\
         COMMENT 'Raw {name} records from {path} (bronze layer)'\n\
         AS SELECT *, current_timestamp() AS ingested_at\n\
         FROM STREAM read_files('{path}', format => '{format}'{header});\n",
        name = t.name,
        path = ingest.path.replace('\'', "''"),
        format = ingest.format,
        header = if ingest.format == "csv" {
            ", header => true"
        } else {
            ""
        },
    )
}

fn silver_sql(t: &Topic) -> String {
    format!(
        "-- Silver: cleaned, typed and de-duplicated {name} (one row per {key}).\n\
         CREATE OR REFRESH MATERIALIZED VIEW silver_{name} (\n  \
         CONSTRAINT valid_{key} EXPECT ({key} IS NOT NULL) ON VIOLATION DROP ROW,\n  \
         CONSTRAINT valid_{ts} EXPECT ({ts} IS NOT NULL) ON VIOLATION DROP ROW\n)\n\
         COMMENT 'Cleaned {name} records (silver layer)'\n\
         AS SELECT\n  {cols}\n\
         FROM bronze_{name}\n\
         WHERE {filter}\n\
         QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {ts} DESC) = 1;\n",
        name = t.name,
        key = t.key,
        ts = t.ts,
        cols = t.silver.join(",\n  "),
        filter = t.filter,
    )
}

fn gold_sql(t: &Topic) -> String {
    format!(
        "-- Gold: daily {name} volume for dashboards.\n\
         CREATE OR REFRESH MATERIALIZED VIEW gold_{name}_daily\n\
         COMMENT 'Daily {name} counts (gold layer)'\n\
         AS SELECT to_date({ts}) AS day, count(*) AS record_count\n\
         FROM silver_{name}\n\
         GROUP BY to_date({ts});\n",
        name = t.name,
        ts = t.ts,
    )
}
