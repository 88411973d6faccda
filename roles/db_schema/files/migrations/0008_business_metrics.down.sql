-- Reverts 0008_business_metrics.
DROP FUNCTION metrics_gift_transactions_last_minute();
DROP FUNCTION metrics_user_registrations_last_minute();
DROP INDEX transactions_gift_created_at_idx;
