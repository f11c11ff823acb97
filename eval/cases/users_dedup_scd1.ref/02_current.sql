CREATE OR REFRESH MATERIALIZED VIEW customers_current AS
SELECT customer_id, email, tier, updated_at
FROM (
  SELECT *, row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC) AS rn
  FROM customer_updates
)
WHERE rn = 1;
