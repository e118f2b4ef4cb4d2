-- One ticker's 1-minute bars on one day, resampled to 30 minutes. Parameters:
--   arcticsql run queries/06_bars_for_ticker.sql --param ticker=MSFT --param day=2024-03-27
SELECT time_bucket(INTERVAL 30 MINUTE, ts) AS bar,
       first(open ORDER BY ts)              AS open,
       max(high)                            AS high,
       min(low)                             AS low,
       last(close ORDER BY ts)              AS close,
       sum(volume)                          AS volume
FROM "prices_1min/*"
WHERE symbol = $ticker
  AND ts >= $day::TIMESTAMP AND ts < $day::TIMESTAMP + INTERVAL 1 DAY
GROUP BY ALL
ORDER BY bar;
