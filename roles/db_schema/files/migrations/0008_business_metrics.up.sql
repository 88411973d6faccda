-- Business metrics for the Prometheus postgres_exporter (giftcrypto.platform.monitoring, custom
-- queries in roles/monitoring/files/postgres_exporter_queries.yml): user registrations and gift
-- transactions per minute.
--
-- The exporter logs in as a member of pg_monitor (giftcrypto_monitor locally, the monitoring user
-- on RDS) and must not read users or transactions: both have FORCE ROW LEVEL SECURITY and hold
-- PII or money movements. It gets counts only, through SECURITY DEFINER functions owned by
-- migrator (whose *_definer policies let its functions read every row), executable by pg_monitor
-- alone. Each counts the last complete minute, [minute - 1, minute), so a scrape in the middle of
-- a minute never reports a partial one.

-- Never queue behind live traffic for long, nor run away (pg_migrate: one transaction).
SET LOCAL lock_timeout = '5s';
SET LOCAL statement_timeout = '10min';

-- Gift transactions by creation time: the per-minute count reads the current partition's few
-- index entries instead of scanning it. An index on a partitioned table cannot be built
-- CONCURRENTLY; transactions gets this index while it is young (sprint 01), under lock_timeout.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX transactions_gift_created_at_idx ON transactions (created_at)
WHERE transaction_type = 'gift';

CREATE FUNCTION metrics_user_registrations_last_minute() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT count(*) FROM users
  WHERE created_at >= date_trunc('minute', now()) - interval '1 minute'
    AND created_at < date_trunc('minute', now())
$$;

-- Every status is returned, at 0 when there is none, so a drop to zero stays visible.
CREATE FUNCTION metrics_gift_transactions_last_minute()
RETURNS TABLE (status text, per_minute bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
  SELECT s.status, count(t.status)
  FROM (VALUES ('pending'), ('confirmed'), ('failed'), ('cancelled')) AS s (status)
  LEFT JOIN transactions AS t
    ON t.status = s.status
    AND t.transaction_type = 'gift'
    AND t.created_at >= date_trunc('minute', now()) - interval '1 minute'
    AND t.created_at < date_trunc('minute', now())
  GROUP BY s.status
$$;

REVOKE ALL ON FUNCTION metrics_user_registrations_last_minute() FROM PUBLIC;
REVOKE ALL ON FUNCTION metrics_gift_transactions_last_minute() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION metrics_user_registrations_last_minute() TO pg_monitor;
GRANT EXECUTE ON FUNCTION metrics_gift_transactions_last_minute() TO pg_monitor;
