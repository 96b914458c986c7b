-- The benchmark job as SQL, one text for DuckDB and PostgreSQL: one day's raw usage records
-- aggregated per account × workspace × item × retention, rated with the catalog prices
-- (an annual package's quota first, filled in workspace and retention order), each line
-- rounded down to the minor unit, summed per account and deducted in waterfall order
-- (regular coupons on coupon-eligible items, then prepaid cards, then cash, the rest arrears).
-- `//` is integer division; the PostgreSQL runner writes it as `/`, which divides bigints
-- the same way. Every value is an integer, so both engines compute exactly.
CREATE TABLE result AS
WITH daily AS (
    SELECT account, workspace, item, retention, sum(quantity_e6) AS q_sum, max(quantity_e6) AS q_max
    FROM usage
    GROUP BY account, workspace, item, retention
),
counted AS (
    SELECT d.account, d.workspace, d.item, d.retention, i.unit_size, i.coupon_eligible, q.quantity_e6 AS quota, f.factor,
           CAST(CASE WHEN i.aggregation = 'max' THEN d.q_max ELSE d.q_sum END AS BIGINT) * coalesce(f.factor, 1) AS counted,
           coalesce(CASE WHEN f.factor > 1 THEN q.base_retention END, d.retention) AS priced_retention
    FROM daily d
    JOIN items i ON i.item = d.item
    JOIN accounts a ON a.account = d.account
    LEFT JOIN quotas q ON a.package AND q.item = d.item
    LEFT JOIN factors f ON f.item = q.item AND coalesce(f.retention, 0) = coalesce(d.retention, 0)
),
covered AS (
    SELECT account, item, unit_size, coupon_eligible, priced_retention, counted, CAST(0 AS BIGINT) AS covered
    FROM counted WHERE factor IS NULL
    UNION ALL
    SELECT account, item, unit_size, coupon_eligible, priced_retention, counted,
           CAST(least(counted, greatest(quota - coalesce(sum(counted) OVER (
               PARTITION BY account, item ORDER BY workspace, CAST(retention AS VARCHAR)
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), 0)) AS BIGINT) AS covered
    FROM counted WHERE factor IS NOT NULL
),
lines AS (
    SELECT c.account, c.coupon_eligible,
           ((c.counted - c.covered) * 100 // (c.unit_size * 1000000)) * p.rate_e4 // 10000 AS cents
    FROM covered c
    JOIN prices p ON p.item = c.item AND coalesce(p.retention, 0) = coalesce(c.priced_retention, 0)
),
per_account AS (
    SELECT account, sum(cents) AS total, sum(CASE WHEN coupon_eligible THEN cents ELSE 0 END) AS eligible
    FROM lines
    GROUP BY account
),
by_coupon AS (
    SELECT a.account, coalesce(t.total, 0) AS total, least(a.coupon, coalesce(t.eligible, 0)) AS coupon, a.card, a.cash
    FROM accounts a LEFT JOIN per_account t ON t.account = a.account
),
by_card AS (
    SELECT account, total, coupon, least(card, total - coupon) AS card, cash FROM by_coupon
)
SELECT account, total, coupon, card, least(cash, total - coupon - card) AS cash,
       total - coupon - card - least(cash, total - coupon - card) AS arrears
FROM by_card;
