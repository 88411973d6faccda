-- Reverts 0002_transactions (the partitions go with their parent).
DROP TABLE transactions;
DROP FUNCTION ensure_monthly_partitions(integer);
