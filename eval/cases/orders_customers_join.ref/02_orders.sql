CREATE OR REFRESH MATERIALIZED VIEW orders AS
SELECT id AS order_id, CAST(id % 200 AS INT) AS customer_id, round(1 + (id * 7) % 500 / 10.0, 2) AS amount
FROM range(0, 3000);
