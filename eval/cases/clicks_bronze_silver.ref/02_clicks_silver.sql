CREATE OR REFRESH MATERIALIZED VIEW clicks_silver AS
SELECT event_id, user_id, lower(page) AS page, event_type, event_ts, to_date(event_ts) AS event_date
FROM clicks_bronze
WHERE user_id IS NOT NULL;
