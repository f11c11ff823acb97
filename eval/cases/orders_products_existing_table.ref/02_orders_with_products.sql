CREATE OR REFRESH MATERIALIZED VIEW orders_with_products AS
SELECT o.order_id, o.customer_id, o.product_id, p.product_name, p.category, o.quantity,
       CAST(o.unit_price AS DECIMAL(10, 2)) AS unit_price, o.order_ts
FROM orders_bronze o
JOIN main.ref.products p ON o.product_id = p.product_id;

CREATE OR REFRESH MATERIALIZED VIEW revenue_by_category AS
SELECT category, count(*) AS orders, sum(quantity * unit_price) AS revenue
FROM orders_with_products
GROUP BY category;
