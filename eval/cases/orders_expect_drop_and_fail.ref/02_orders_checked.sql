CREATE OR REFRESH STREAMING TABLE orders_checked (
  CONSTRAINT has_order_id EXPECT (order_id IS NOT NULL) ON VIOLATION FAIL UPDATE,
  CONSTRAINT has_order_ts EXPECT (order_ts IS NOT NULL) ON VIOLATION FAIL UPDATE,
  CONSTRAINT nonzero_quantity EXPECT (quantity > 0) ON VIOLATION DROP ROW
) AS
SELECT order_id, customer_id, product_id, quantity, unit_price, status, order_ts
FROM STREAM(orders_bronze);
