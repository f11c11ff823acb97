CREATE OR REFRESH MATERIALIZED VIEW orders_silver (
  CONSTRAINT has_customer EXPECT (customer_id IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT positive_quantity EXPECT (quantity > 0) ON VIOLATION DROP ROW
) AS
SELECT
  order_id,
  customer_id,
  product_id,
  quantity,
  CAST(unit_price AS DECIMAL(10, 2)) AS unit_price,
  status,
  CAST(order_ts AS TIMESTAMP) AS order_ts,
  to_date(CAST(order_ts AS TIMESTAMP)) AS order_date
FROM orders_bronze;
