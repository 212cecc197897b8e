"""Operations of the 'bulk' family (registered with @operation)."""
