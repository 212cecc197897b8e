"""Operations of the 'system' family (registered with @operation)."""
