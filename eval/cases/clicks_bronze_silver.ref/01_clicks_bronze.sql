CREATE OR REFRESH MATERIALIZED VIEW clicks_bronze AS
SELECT
  id AS event_id,
  CASE WHEN id % 97 = 0 THEN NULL ELSE CAST(id % 1000 AS INT) END AS user_id,
  element_at(array('/Home', '/Search', '/Product', '/Cart', '/Checkout'), CAST(id % 5 AS INT) + 1) AS page,
  element_at(array('page_view', 'click', 'add_to_cart', 'purchase'), CAST(id % 4 AS INT) + 1) AS event_type,
  timestamp_seconds(1735689600 + (id * 37) % 2592000) AS event_ts
FROM range(0, 10000);
