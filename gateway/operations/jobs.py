"""Operations of the 'jobs' family (registered with @operation)."""
