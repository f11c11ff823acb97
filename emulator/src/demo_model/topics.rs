//! The data domains the demo model can synthesise: columns are SQL over `id` from `range()`.

/// One data domain: key and timestamp columns, bronze columns, silver projections and filter.
pub struct Topic {
    pub name: &'static str,
    pub keywords: &'static [&'static str],
    pub key: &'static str,
    pub ts: &'static str,
    pub bronze: &'static [&'static str],
    pub silver: &'static [&'static str],
    pub filter: &'static str,
}

pub const EPOCH_2025: &str = "timestamp_seconds(1735689600 + (id * 37) % 2592000)";

pub const TOPICS: &[Topic] = &[
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
pub const EVENTS: Topic = Topic {
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

pub const LAYERS: &[&str] = &["bronze", "silver", "gold"];
