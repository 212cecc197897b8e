"""Operations of the 'tables' family (registered with @operation)."""
