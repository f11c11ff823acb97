CREATE OR REFRESH MATERIALIZED VIEW orders_daily AS
SELECT
  to_date(CAST(order_ts AS TIMESTAMP)) AS order_date,
  count(*) AS orders,
  count(DISTINCT customer_id) AS customers,
  sum(quantity * CAST(unit_price AS DECIMAL(10, 2))) AS revenue
FROM orders_bronze
GROUP BY to_date(CAST(order_ts AS TIMESTAMP));
