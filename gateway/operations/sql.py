"""Operations of the 'sql' family (registered with @operation)."""
