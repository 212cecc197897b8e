"""The Haplo-style batch import family: batches, control files, models, runs."""
