CREATE OR REFRESH STREAMING TABLE readings_bronze AS
SELECT * FROM STREAM read_files('/Volumes/main/raw/sensors/', format => 'csv', header => true);

CREATE OR REFRESH STREAMING TABLE readings_silver (
  CONSTRAINT has_temperature EXPECT (temperature IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT plausible_temperature EXPECT (temperature BETWEEN -40 AND 60) ON VIOLATION DROP ROW
) AS
SELECT
  reading_id,
  sensor_id,
  CAST(temperature AS DOUBLE) AS temperature,
  CAST(humidity AS DOUBLE) AS humidity,
  CAST(reading_ts AS TIMESTAMP) AS reading_ts
FROM STREAM(readings_bronze);

CREATE OR REFRESH MATERIALIZED VIEW sensor_daily AS
SELECT
  sensor_id,
  to_date(reading_ts) AS reading_date,
  round(avg(temperature), 2) AS avg_temperature,
  min(temperature) AS min_temperature,
  max(temperature) AS max_temperature
FROM readings_silver
GROUP BY sensor_id, to_date(reading_ts);
