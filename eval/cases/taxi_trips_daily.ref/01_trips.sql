CREATE OR REFRESH MATERIALIZED VIEW trips_daily AS
SELECT
  to_date(tpep_pickup_datetime) AS pickup_date,
  count(*) AS trips,
  round(avg(trip_distance), 2) AS avg_distance,
  round(sum(fare_amount), 2) AS total_fare
FROM samples.nyctaxi.trips
GROUP BY to_date(tpep_pickup_datetime);

CREATE OR REFRESH MATERIALIZED VIEW trips_by_zip AS
SELECT pickup_zip, count(*) AS trips, round(avg(fare_amount), 2) AS avg_fare
FROM samples.nyctaxi.trips
GROUP BY pickup_zip;
