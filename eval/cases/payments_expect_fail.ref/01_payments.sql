CREATE OR REFRESH MATERIALIZED VIEW payments_bronze AS
SELECT
  id AS payment_id,
  CAST(id % 300 AS INT) AS account_id,
  round(0.5 + (id * 29) % 100000 / 100.0, 2) AS amount,
  element_at(array('EUR', 'USD', 'GBP'), CAST(id % 3 AS INT) + 1) AS currency
FROM range(0, 4000);

CREATE OR REFRESH MATERIALIZED VIEW payments_silver (
  CONSTRAINT positive_amount EXPECT (amount > 0) ON VIOLATION FAIL UPDATE,
  CONSTRAINT known_currency EXPECT (currency IN ('EUR', 'USD', 'GBP')) ON VIOLATION FAIL UPDATE
) AS
SELECT payment_id, account_id, amount, currency FROM payments_bronze;

CREATE OR REFRESH MATERIALIZED VIEW payments_by_currency AS
SELECT currency, round(sum(amount), 2) AS total, count(*) AS payments
FROM payments_silver
GROUP BY currency;
