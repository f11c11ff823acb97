CREATE OR REFRESH MATERIALIZED VIEW customers AS
SELECT
  CAST(id AS INT) AS customer_id,
  concat('customer_', CAST(id AS STRING)) AS name,
  element_at(array('DE', 'FR', 'US', 'JP', 'BR'), CAST(id % 5 AS INT) + 1) AS country
FROM range(0, 200);
