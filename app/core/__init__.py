"""What the product does, without Qt: the only layer that combines storage and backends."""
