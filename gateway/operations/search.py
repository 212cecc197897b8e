"""Operations of the 'search' family (registered with @operation)."""
