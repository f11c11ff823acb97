CREATE OR REFRESH MATERIALIZED VIEW page_events AS
SELECT
  id AS event_id,
  concat('s-', CAST(id DIV 8 AS STRING)) AS session_id,
  element_at(array('page_view', 'page_view', 'page_view', 'add_to_cart', 'purchase'), CAST(id % 5 AS INT) + 1) AS event_type,
  timestamp_seconds(1735689600 + (id * 97) % 864000) AS event_ts
FROM range(0, 20000);

CREATE OR REFRESH MATERIALIZED VIEW funnel_daily AS
SELECT to_date(event_ts) AS event_date, event_type, count(*) AS events
FROM page_events
GROUP BY to_date(event_ts), event_type;

CREATE OR REFRESH MATERIALIZED VIEW conversion_daily AS
SELECT
  event_date,
  round(sum(CASE WHEN event_type = 'purchase' THEN events ELSE 0 END) / sum(CASE WHEN event_type = 'page_view' THEN events ELSE 0 END), 4) AS conversion
FROM funnel_daily
GROUP BY event_date;
