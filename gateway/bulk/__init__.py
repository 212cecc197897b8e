"""Bulk loads and exports: CSV/JSON parsing and casting, the load loop, exporters, S3 and URL
sources, path confinement, the job table, and the SQL translation used by ``sql`` and exports."""
