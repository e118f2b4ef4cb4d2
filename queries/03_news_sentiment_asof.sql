-- Each headline next to the last traded price at or before it (ASOF JOIN), and the price 30 minutes later.
SELECT n.ts                                         AS published,
       n.ticker,
       n.headline,
       round(n.sentiment, 2)                        AS sentiment,
       round(p.close, 2)                            AS price_at_news,
       round(later.close / p.close - 1, 5)          AS return_30m
FROM "news_enriched/*" n
ASOF JOIN "prices_1min/*" p     ON n.ticker = p.symbol AND n.ts >= p.ts
ASOF JOIN "prices_1min/*" later ON n.ticker = later.symbol AND n.ts + INTERVAL 30 MINUTE >= later.ts
ORDER BY n.ts
LIMIT 25;
