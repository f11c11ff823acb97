CREATE OR REFRESH MATERIALIZED VIEW customer_updates AS
SELECT
  CAST(id % 1000 AS INT) AS customer_id,
  concat('user', CAST(id % 1000 AS STRING), '+v', CAST(id DIV 1000 AS STRING), '@example.com') AS email,
  element_at(array('bronze', 'silver', 'gold'), CAST((id DIV 1000) % 3 AS INT) + 1) AS tier,
  timestamp_seconds(1735689600 + id * 17) AS updated_at
FROM range(0, 6000);
