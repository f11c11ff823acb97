CREATE OR REFRESH MATERIALIZED VIEW sensor_readings_silver (
  CONSTRAINT temperature_present EXPECT (temperature IS NOT NULL) ON VIOLATION DROP ROW,
  CONSTRAINT temperature_plausible EXPECT (temperature BETWEEN -50 AND 150) ON VIOLATION DROP ROW
) AS
SELECT reading_id, sensor_id, temperature, reading_ts FROM sensor_readings_bronze;

CREATE OR REFRESH MATERIALIZED VIEW sensor_avg AS
SELECT sensor_id, round(avg(temperature), 2) AS avg_temperature, count(*) AS readings
FROM sensor_readings_silver
GROUP BY sensor_id;
