"""Operations of the 'records' family (registered with @operation)."""
