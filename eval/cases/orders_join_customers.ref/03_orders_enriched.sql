CREATE OR REFRESH MATERIALIZED VIEW orders_enriched AS
SELECT o.order_id, o.customer_id, c.name, c.country, o.product_id, o.quantity,
       CAST(o.unit_price AS DECIMAL(10, 2)) AS unit_price, o.status, o.order_ts
FROM orders_bronze o
JOIN customers c ON o.customer_id = c.customer_id;

CREATE OR REFRESH MATERIALIZED VIEW revenue_by_country AS
SELECT country, count(*) AS orders, sum(quantity * unit_price) AS revenue
FROM orders_enriched
WHERE status <> 'cancelled'
GROUP BY country;
