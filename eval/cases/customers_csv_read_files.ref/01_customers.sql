CREATE OR REFRESH MATERIALIZED VIEW customers_bronze AS
SELECT * FROM read_files('/Volumes/main/raw/customers/', format => 'csv', header => true);

CREATE OR REFRESH MATERIALIZED VIEW customers_by_country AS
SELECT country, count(*) AS customers
FROM customers_bronze
GROUP BY country;
