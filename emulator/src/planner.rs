//! The deterministic "model" behind the offline demo: turns the agent's question into a
//! pipeline plan (names, paths and real SDP SQL), preferring values the question already fixes.

use serde_json::{Map, Value, json};

/// A data domain the planner can synthesise: columns are SQL over `id` from `range()`.
struct Topic {
    name: &'static str,
    keywords: &'static [&'static str],
    key: &'static str,
    ts: &'static str,
    bronze: &'static [&'static str],
    silver: &'static [&'static str],
    filter: &'static str,
}

const EPOCH_2025: &str = "timestamp_seconds(1735689600 + (id * 37) % 2592000)";

const TOPICS: &[Topic] = &[
    Topic {
        name: "clickstream",
        keywords: &[
            "clickstream",
            "click",
            "clicks",
            "pageview",
            "pageviews",
            "web",
            "website",
        ],
        key: "event_id",
        ts: "event_ts",
        bronze: &[
            "CASE WHEN id % 97 = 0 THEN NULL ELSE CAST(id % 1000 AS INT) END AS user_id",
            "concat('sess-', CAST(id % 1000 AS STRING), '-', CAST(id DIV 20 AS STRING)) AS session_id",
            "element_at(array('/home', '/search', '/product', '/cart', '/checkout'), CAST(id % 5 AS INT) + 1) AS page",
            "element_at(array('page_view', 'click', 'add_to_cart', 'purchase'), CAST(id % 4 AS INT) + 1) AS event_type",
        ],
        silver: &[
            "event_id",
            "user_id",
            "session_id",
            "lower(trim(page)) AS page",
            "upper(event_type) AS event_type",
            "event_ts",
            "to_date(event_ts) AS event_date",
            "event_type = 'purchase' AS is_purchase",
        ],
        filter: "user_id IS NOT NULL",
    },
    Topic {
        name: "orders",
        keywords: &[
            "order",
            "orders",
            "ecommerce",
            "commerce",
            "sales",
            "retail",
            "purchases",
        ],
        key: "order_id",
        ts: "order_ts",
        bronze: &[
            "CAST(id % 2000 AS INT) AS customer_id",
            "concat('SKU-', lpad(CAST(id % 250 AS STRING), 4, '0')) AS product_id",
            "CAST(1 + id % 5 AS INT) AS quantity",
            "CAST(5 + (id * 13) % 9500 / 100.0 AS STRING) AS unit_price",
            "element_at(array('placed', 'shipped', 'delivered', 'cancelled'), CAST(id % 4 AS INT) + 1) AS status",
        ],
        silver: &[
            "order_id",
            "customer_id",
            "product_id",
            "quantity",
            "CAST(unit_price AS DECIMAL(10, 2)) AS unit_price",
            "CAST(quantity * CAST(unit_price AS DECIMAL(10, 2)) AS DECIMAL(12, 2)) AS amount",
            "upper(status) AS status",
            "order_ts",
            "to_date(order_ts) AS order_date",
        ],
        filter: "quantity > 0 AND status <> 'cancelled'",
    },
    Topic {
        name: "iot",
        keywords: &[
            "iot",
            "sensor",
            "sensors",
            "telemetry",
            "device",
            "devices",
            "temperature",
        ],
        key: "reading_id",
        ts: "reading_ts",
        bronze: &[
            "concat('device-', lpad(CAST(id % 50 AS STRING), 3, '0')) AS device_id",
            "element_at(array('temperature', 'humidity', 'pressure'), CAST(id % 3 AS INT) + 1) AS sensor_type",
            "CASE WHEN id % 101 = 0 THEN NULL ELSE round(20 + sin(id / 10.0) * 5 + (id % 7) / 10.0, 2) END AS reading",
        ],
        silver: &[
            "reading_id",
            "device_id",
            "sensor_type",
            "CAST(reading AS DOUBLE) AS reading",
            "abs(reading - 20) > 4 AS is_anomaly",
            "reading_ts",
            "date_trunc('HOUR', reading_ts) AS reading_hour",
        ],
        filter: "reading IS NOT NULL",
    },
    Topic {
        name: "logs",
        keywords: &["log", "logs", "logging", "syslog", "server"],
        key: "log_id",
        ts: "log_ts",
        bronze: &[
            "element_at(array('api', 'auth', 'billing', 'search'), CAST(id % 4 AS INT) + 1) AS service",
            "element_at(array('info', 'info', 'warn', 'error'), CAST(id % 4 AS INT) + 1) AS level",
            "element_at(array(200, 200, 201, 404, 500), CAST(id % 5 AS INT) + 1) AS status_code",
            "CAST(5 + (id * 31) % 900 AS INT) AS latency_ms",
            "concat('request ', CAST(id AS STRING), ' handled') AS message",
        ],
        silver: &[
            "log_id",
            "service",
            "upper(level) AS level",
            "status_code",
            "latency_ms",
            "status_code >= 500 AS is_server_error",
            "message",
            "log_ts",
            "to_date(log_ts) AS log_date",
        ],
        filter: "message IS NOT NULL AND latency_ms >= 0",
    },
    Topic {
        name: "transactions",
        keywords: &[
            "transaction",
            "transactions",
            "payment",
            "payments",
            "banking",
            "fraud",
        ],
        key: "txn_id",
        ts: "txn_ts",
        bronze: &[
            "concat('acct-', CAST(id % 800 AS STRING)) AS account_id",
            "round((id * 7919) % 100000 / 100.0, 2) AS amount",
            "element_at(array('USD', 'EUR', 'GBP'), CAST(id % 3 AS INT) + 1) AS currency",
            "element_at(array('card', 'transfer', 'mobile', 'atm'), CAST(id % 4 AS INT) + 1) AS channel",
        ],
        silver: &[
            "txn_id",
            "account_id",
            "CAST(amount AS DECIMAL(12, 2)) AS amount",
            "currency",
            "upper(channel) AS channel",
            "amount >= 500 AS is_large",
            "txn_ts",
            "to_date(txn_ts) AS txn_date",
        ],
        filter: "amount > 0",
    },
];

/// When the question names no known domain.
const EVENTS: Topic = Topic {
    name: "events",
    keywords: &[],
    key: "event_id",
    ts: "event_ts",
    bronze: &[
        "CAST(id % 1000 AS INT) AS user_id",
        "element_at(array('signup', 'login', 'view', 'logout'), CAST(id % 4 AS INT) + 1) AS event_type",
        "CAST(id % 100 AS STRING) AS payload",
    ],
    silver: &[
        "event_id",
        "user_id",
        "upper(event_type) AS event_type",
        "CAST(payload AS INT) AS payload_value",
        "event_ts",
        "to_date(event_ts) AS event_date",
    ],
    filter: "user_id IS NOT NULL",
};

const LAYERS: &[&str] = &["bronze", "silver", "gold"];

/// The planner's whole answer: one sentence, then the plan as a fenced JSON block.
pub fn plan(body: &Map<String, Value>) -> String {
    let question = last_user_text(body);
    let known = known_values(&question);
    let prose = format!(
        "{question} {}",
        known.get("question").and_then(Value::as_str).unwrap_or("")
    )
    .to_lowercase();
    let words: Vec<&str> = prose
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let topic = detect_topic(&words);
    let known_str = |key: &str| {
        known
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };

    let mentioned: Vec<&str> = LAYERS
        .iter()
        .copied()
        .filter(|l| words.contains(l))
        .collect();
    let suffix = if mentioned.is_empty() {
        "demo".to_string()
    } else {
        mentioned.join("_")
    };
    let name = known_str("pipelineName")
        .or_else(|| known_str("pipeline_name"))
        .unwrap_or_else(|| format!("sdp_{}_{suffix}", topic.name));
    let catalog = known_str("catalog").unwrap_or_else(|| "main".to_string());
    let schema = known_str("schema").unwrap_or_else(|| format!("{}_demo", topic.name));
    let root = known_str("root_path")
        .map(|r| r.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("/Workspace/Shared/sdp-agent/{name}"));
    let paths: Vec<String> = match known.get("workspace_file_paths").and_then(Value::as_array) {
        Some(given) if !given.is_empty() => given
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        // Bronze and silver always; gold only when asked for.
        _ => LAYERS
            .iter()
            .filter(|l| **l != "gold" || mentioned.contains(l))
            .map(|layer| format!("{root}/transformations/{layer}_{}.sql", topic.name))
            .collect(),
    };
    let sources: Map<String, Value> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| (path.clone(), json!(source_for(topic, path, i, paths.len()))))
        .collect();

    let plan = json!({
        "pipelineName": name,
        "catalog": catalog,
        "schema": schema,
        "root_path": root,
        "workspace_file_paths": paths,
        "sources": sources,
    });
    let pretty = serde_json::to_string_pretty(&plan).unwrap_or_default();
    format!(
        "Here is a Spark Declarative Pipeline that generates synthetic {t} data into bronze_{t} and cleans it into silver_{t}.\n\n```json\n{pretty}\n```\n",
        t = topic.name
    )
}

/// Text of the last user message (string content, or the text blocks of a block list).
fn last_user_text(body: &Map<String, Value>) -> String {
    let messages = body.get("messages").and_then(Value::as_array);
    let Some(last) = messages
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m["role"] == "user")
    else {
        return String::new();
    };
    match &last["content"] {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The first fenced JSON object in the question (```json {...} ``` or ``` {...} ```).
fn known_values(question: &str) -> Map<String, Value> {
    question
        .split("```")
        .skip(1)
        .step_by(2)
        .find_map(|block| {
            let block = block.strip_prefix("json").unwrap_or(block);
            serde_json::from_str::<Map<String, Value>>(block.trim()).ok()
        })
        .unwrap_or_default()
}

/// The topic whose keyword appears first in the question; `events` when none does.
fn detect_topic(words: &[&str]) -> &'static Topic {
    words
        .iter()
        .find_map(|w| TOPICS.iter().find(|t| t.keywords.contains(w)))
        .unwrap_or(&EVENTS)
}

/// SQL for one source file: the layer comes from the file name, else from its position
/// (a single file holds bronze and silver together).
fn source_for(topic: &Topic, path: &str, index: usize, count: usize) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(question: &str) -> Value {
        let body = json!({"messages": [
            {"role": "system", "content": "You plan pipelines."},
            {"role": "user", "content": question},
        ]});
        let answer = plan(body.as_object().unwrap());
        let (prose, rest) = answer.split_once("```json\n").expect("fenced block");
        assert!(prose.trim().ends_with('.'), "{prose}");
        let json = rest.split_once("\n```").unwrap().0;
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn clickstream_bronze_silver() {
        let plan =
            ask("Generate synthetic clickstream and build an SDP pipeline to bronze/silver.");
        assert_eq!(plan["pipelineName"], "sdp_clickstream_bronze_silver");
        assert_eq!(plan["catalog"], "main");
        assert_eq!(plan["schema"], "clickstream_demo");
        let root = "/Workspace/Shared/sdp-agent/sdp_clickstream_bronze_silver";
        assert_eq!(plan["root_path"], root);
        let bronze = format!("{root}/transformations/bronze_clickstream.sql");
        let silver = format!("{root}/transformations/silver_clickstream.sql");
        assert_eq!(plan["workspace_file_paths"], json!([bronze, silver]));
        let bronze_sql = plan["sources"][&bronze].as_str().unwrap();
        assert!(bronze_sql.contains("CREATE OR REFRESH MATERIALIZED VIEW bronze_clickstream"));
        for col in [
            "event_id",
            "user_id",
            "session_id",
            "page",
            "event_type",
            "event_ts",
            "FROM range(",
        ] {
            assert!(bronze_sql.contains(col), "{col}");
        }
        let silver_sql = plan["sources"][&silver].as_str().unwrap();
        assert!(silver_sql.contains("FROM bronze_clickstream"));
        assert!(silver_sql.contains("IS NOT NULL"));
    }

    #[test]
    fn gold_only_when_asked() {
        let plan = ask("IoT sensors to bronze, silver and gold");
        let paths = plan["workspace_file_paths"].as_array().unwrap();
        assert_eq!(paths.len(), 3);
        let gold = paths[2].as_str().unwrap();
        assert!(gold.ends_with("/gold_iot.sql"));
        assert!(
            plan["sources"][gold]
                .as_str()
                .unwrap()
                .contains("FROM silver_iot")
        );
    }

    #[test]
    fn topics_and_default() {
        assert_eq!(ask("IoT sensor readings please")["schema"], "iot_demo");
        assert_eq!(
            ask("orders into bronze")["pipelineName"],
            "sdp_orders_bronze"
        );
        assert_eq!(ask("payments pipeline")["schema"], "transactions_demo");
        assert_eq!(ask("server logs")["schema"], "logs_demo");
        assert_eq!(
            ask("something else entirely")["pipelineName"],
            "sdp_events_demo"
        );
    }

    #[test]
    fn known_values_win() {
        let plan = ask(
            "Create clickstream bronze & silver.\n\n```json\n{\"catalog\": \"dev\", \"schema\": \"demo\", \
             \"pipelineName\": \"sdp_clickstream_demo\", \"root_path\": \"/Workspace/Repos/r/\", \
             \"workspace_file_paths\": [\"/Workspace/Repos/r/pipelines/bronze.sql\"]}\n```",
        );
        assert_eq!(plan["catalog"], "dev");
        assert_eq!(plan["schema"], "demo");
        assert_eq!(plan["pipelineName"], "sdp_clickstream_demo");
        assert_eq!(plan["root_path"], "/Workspace/Repos/r");
        let only = "/Workspace/Repos/r/pipelines/bronze.sql";
        assert_eq!(plan["workspace_file_paths"], json!([only]));
        assert!(
            plan["sources"][only]
                .as_str()
                .unwrap()
                .contains("bronze_clickstream")
        );
    }

    #[test]
    fn single_unnamed_file_holds_both_layers_and_is_deterministic() {
        let q = "orders\n```json\n{\"workspace_file_paths\": [\"/x/pipeline.sql\"]}\n```";
        let plan = ask(q);
        let sql = plan["sources"]["/x/pipeline.sql"].as_str().unwrap();
        assert!(sql.contains("bronze_orders") && sql.contains("silver_orders"));
        assert_eq!(ask(q), plan);
    }
}
