//! The SDP SQL the demo model writes for each layer of a topic.

use super::topics::{EPOCH_2025, LAYERS, Topic};

/// SQL for one source file: the layer comes from the file name, else from its position
/// (a single file holds bronze and silver together).
pub fn source_for(topic: &Topic, path: &str, index: usize, count: usize) -> String {
    let file = path.rsplit('/').next().unwrap_or(path).to_lowercase();
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
