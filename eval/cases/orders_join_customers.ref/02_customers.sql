CREATE OR REFRESH MATERIALIZED VIEW customers AS
SELECT * FROM read_files('/Volumes/main/raw/customers/', format => 'csv', header => true);
