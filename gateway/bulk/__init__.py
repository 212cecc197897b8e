"""The bulk family: loads and exports of whole files (csv_*_load, import_from_s3, export_*).

CSV/JSON parsing and casting, the load loop and its encoders (``arrowencode``,
``listencode``, ``rowjson``), exporters, S3 and URL sources, path confinement.
``install`` reads the family's settings once and sets the Arrow memory pool of
its loads and tunes glibc's malloc; the loads run as jobs of the jobs family.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.bulk.arrowpool import tune_malloc, use_jemalloc
from gateway.config import Config


@dataclass(frozen=True)
class Bulk:
    """Where loads may read and exports may write, and how URLs and large files are fetched."""

    import_dirs: list[Path]
    export_dirs: list[Path]
    staging_dir: Path
    url_allow_private: bool
    url_max_bytes: int
    url_timeout: float
    parse_worker_min_bytes: int


def install(config: Config) -> Bulk:
    """The bulk settings of this process (``bulk.*`` configuration keys)."""
    use_jemalloc()
    tune_malloc()
    return Bulk(
        import_dirs=config.import_dirs,
        export_dirs=config.export_dirs,
        staging_dir=config.root / "tmp",
        url_allow_private=bool(config.get("bulk.url_allow_private")),
        url_max_bytes=int(config.get("bulk.url_max_bytes")),
        url_timeout=float(config.get("bulk.url_timeout")),
        parse_worker_min_bytes=int(config.get("bulk.parse_worker_min_bytes")),
    )
