"""Operations of the 'imports' family (registered with @operation)."""
