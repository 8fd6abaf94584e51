-- The capture user: binlog replication and SELECT, nothing else.
CREATE USER IF NOT EXISTS 'cdc'@'%' IDENTIFIED BY 'cdc-change-me';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'cdc'@'%';

CREATE DATABASE IF NOT EXISTS demo CHARACTER SET utf8mb4;
CREATE TABLE IF NOT EXISTS demo.customers (
  id BIGINT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(200),
  balance DECIMAL(12,2),
  tier ENUM('free','pro','team') DEFAULT 'free',
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
);
INSERT IGNORE INTO demo.customers (id, name, email, balance, tier) VALUES
  (1, 'Ada Lovelace', 'ada@example.com', 1815.12, 'pro'),
  (2, 'Grace Hopper', 'grace@example.com', 1906.00, 'team');
