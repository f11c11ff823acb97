CREATE OR REFRESH MATERIALIZED VIEW funnel_daily AS
SELECT to_date(CAST(event_ts AS TIMESTAMP)) AS event_date, event_type, count(*) AS events
FROM events_bronze
GROUP BY to_date(CAST(event_ts AS TIMESTAMP)), event_type;

CREATE OR REFRESH MATERIALIZED VIEW conversion_daily AS
SELECT
  event_date,
  round(
    sum(CASE WHEN event_type = 'purchase' THEN events ELSE 0 END)
      / sum(CASE WHEN event_type = 'page_view' THEN events ELSE 0 END),
    4) AS conversion
FROM funnel_daily
GROUP BY event_date;
