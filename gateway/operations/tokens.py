"""Operations of the 'tokens' family (registered with @operation)."""
