CREATE OR REFRESH MATERIALIZED VIEW sensor_readings_bronze AS
SELECT
  id AS reading_id,
  CAST(id % 50 AS INT) AS sensor_id,
  CASE WHEN id % 101 = 0 THEN NULL
       WHEN id % 103 = 0 THEN 999.0
       ELSE round(15 + (id * 17) % 200 / 10.0, 1) END AS temperature,
  timestamp_seconds(1735689600 + id * 60) AS reading_ts
FROM range(0, 10000);
