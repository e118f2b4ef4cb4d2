-- What changed between two versions of a symbol: rows whose values differ (the demo's version 1 of
-- prices_daily/AAPL corrects a bad high), plus each version's metadata.
SELECT v0.ts::DATE AS day, v0.high AS high_v0, v1.high AS high_v1, round(v1.high - v0.high, 2) AS change
FROM prices_daily.AAPL AT (VERSION => 0) v0
JOIN prices_daily.AAPL AT (VERSION => 1) v1 USING (ts)
WHERE v0.high IS DISTINCT FROM v1.high
   OR v0.close IS DISTINCT FROM v1.close;

SELECT version, created, snapshots FROM arcticsql.versions
WHERE library = 'prices_daily' AND symbol = 'AAPL'
ORDER BY version;
