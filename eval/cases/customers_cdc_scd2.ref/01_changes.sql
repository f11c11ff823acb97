CREATE OR REFRESH STREAMING TABLE customer_changes_bronze AS
SELECT * FROM STREAM read_files('/Volumes/main/raw/customer_changes/', format => 'json');
