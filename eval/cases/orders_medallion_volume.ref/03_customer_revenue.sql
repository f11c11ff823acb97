CREATE OR REFRESH MATERIALIZED VIEW customer_revenue AS
SELECT customer_id, count(*) AS orders, sum(quantity * unit_price) AS revenue
FROM orders_silver
GROUP BY customer_id;
