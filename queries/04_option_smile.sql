-- The implied-volatility smile of the simulated option chains (seed 003 pickles): IV by moneyness for
-- each market's nearest expiry, read straight from the pickle files with read_pickle().
WITH chains AS (
    SELECT market_type AS market, params AS expiry_kind, ExpiryDate::DATE AS expiry, Strike, CallIV, PutIV,
           -- the forward-neutral strike: where the call and put deltas balance
           Strike / first(Strike ORDER BY abs(CallDelta - 0.5)) OVER (PARTITION BY file) AS moneyness
    FROM read_pickle('option_chain/*/black_scholes/*.pkl')
)
SELECT market, expiry_kind, expiry,
       round(moneyness, 2)         AS moneyness,
       round(CallIV, 4)            AS call_iv,
       round(PutIV, 4)             AS put_iv
FROM chains
WHERE moneyness BETWEEN 0.9 AND 1.1
ORDER BY market, expiry, moneyness;
