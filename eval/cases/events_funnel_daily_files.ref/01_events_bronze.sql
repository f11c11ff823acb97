CREATE OR REFRESH STREAMING TABLE events_bronze AS
SELECT * FROM STREAM read_files('/Volumes/main/raw/events/', format => 'json');
