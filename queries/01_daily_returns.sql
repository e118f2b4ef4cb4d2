-- Daily close-to-close returns per ticker, built from 1-minute bars.
-- "prices_1min/*" reads every ticker's bars as one table (with a `symbol` column).
SELECT symbol,
       day,
       round(close, 2)                                                     AS close,
       round(close / lag(close) OVER (PARTITION BY symbol ORDER BY day) - 1, 5) AS daily_return
FROM (
    SELECT symbol, time_bucket(INTERVAL 1 DAY, ts)::DATE AS day, last(close ORDER BY ts) AS close
    FROM "prices_1min/*"
    GROUP BY ALL
)
ORDER BY symbol, day;
