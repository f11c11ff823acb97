CREATE OR REFRESH MATERIALIZED VIEW orders_enriched AS
SELECT o.order_id, o.customer_id, c.name, c.country, o.amount
FROM orders o JOIN customers c ON o.customer_id = c.customer_id;

CREATE OR REFRESH MATERIALIZED VIEW revenue_by_country AS
SELECT country, round(sum(amount), 2) AS revenue, count(*) AS orders
FROM orders_enriched
GROUP BY country;
