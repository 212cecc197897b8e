"""Operations of the 'users' family (registered with @operation)."""
