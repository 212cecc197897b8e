"""The blob backends: uploaded files stored once by the SHA-256 of their bytes.

The port is :class:`gateway.storage.ports.Blobs` (with :class:`~gateway.storage.ports.PendingBlob`);
:mod:`gateway.storage.backends` opens the one ``blobs.backend`` names:

- ``fs`` (:mod:`.fs`): ``<root>/blobs/ab/<sha256>``, renamed into place from a synced
  temporary file;
- ``s3`` (:mod:`.s3`): ``<prefix>ab/<sha256>`` in a bucket, sent from the same kind of
  temporary file (``<root>/blobs/tmp``) once the digest is known.

Both receive an upload into a local temporary file while hashing it (:mod:`.spool`), so
memory stays flat whatever the size, and share the free-space floor for that file.
"""
