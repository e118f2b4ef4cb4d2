-- Cross-sectional momentum: each ticker's 20-session return on the latest day, ranked,
-- next to the stored signal (signals/momentum/SP500) for the same day.
WITH returns AS (
    SELECT symbol, ts, close / lag(close, 20) OVER (PARTITION BY symbol ORDER BY ts) - 1 AS momentum_20d
    FROM "prices_daily/*"
),
latest AS (
    SELECT * FROM returns WHERE ts = (SELECT max(ts) FROM returns)
)
SELECT l.ts::DATE                                      AS day,
       l.symbol,
       round(l.momentum_20d, 4)                       AS momentum_20d,
       rank() OVER (ORDER BY l.momentum_20d DESC)     AS computed_rank,
       s.rank                                         AS stored_rank
FROM latest l
LEFT JOIN signals."momentum/SP500" s ON s.ticker = l.symbol AND s.ts = l.ts
ORDER BY computed_rank;
