CREATE OR REFRESH STREAMING TABLE events_bronze AS
SELECT * FROM STREAM read_files('/Volumes/main/raw/events/', format => 'json');

CREATE OR REFRESH MATERIALIZED VIEW events_silver AS
SELECT
  event_id,
  user_id,
  session_id,
  page,
  event_type,
  CAST(event_ts AS TIMESTAMP) AS event_ts,
  device.os AS device_os,
  device.browser AS device_browser
FROM events_bronze
WHERE user_id IS NOT NULL;
