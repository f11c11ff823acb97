CREATE OR REFRESH MATERIALIZED VIEW orders_bronze AS
SELECT
  id AS order_id,
  CAST(id % 500 AS INT) AS customer_id,
  round(5 + (id * 13) % 9500 / 100.0, 2) AS amount,
  timestamp_seconds(1735689600 + (id * 523) % 2678400) AS order_ts
FROM range(0, 5000);
