CREATE OR REFRESH MATERIALIZED VIEW revenue_daily AS
SELECT to_date(order_ts) AS order_date, count(*) AS orders, round(sum(amount), 2) AS revenue
FROM orders_bronze
GROUP BY to_date(order_ts);
