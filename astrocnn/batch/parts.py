"""The on-disk state of a batch run: manifest, part files, lock, and the final merge.

A batch run writing the table ``OUT`` keeps its state in the folder
``OUT.parts/``:

- ``manifest.json``: what the run is (task, model checksum, catalogue,
  partition size, options).  A resumed run must match it exactly, so parts
  made by another model or with other options are never mixed in.
- ``part-000042.fits``: the output rows of partition 42, written by a worker
  to a temporary name and renamed, so a part file is complete or absent.
  Its header repeats the model checksum and the partition's rows.
- ``lock``: held (``flock``) by the driver for the whole run; the kernel
  releases it when the driver dies, so a second concurrent run is refused
  while an interrupted one can be resumed.

The merged output carries a ``BATCHRUN`` card (table meta: FITS, ECSV and
HDF5 keep it; CSV cannot), a digest of the manifest: once the state folder is
gone it is what tells a finished run from another one.

When every partition is done the parts are merged, in catalogue order, into
``OUT`` (temporary name + rename).  FITS and CSV outputs are streamed part by
part, so memory does not grow with the catalogue; ECSV and HDF5 outputs are
assembled in memory.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import socket
from pathlib import Path

import numpy as np

from astrocnn.errors import AstrocnnError, OutputError
from astrocnn.io.atomic import atomic_path
from astrocnn.io.catalog import table_format, write_table
from astrocnn.io.fits.tables import concatenate_tables

MANIFEST = "manifest.json"
MERGED = "merged.sha256"  # checksum of the merged output, written just before its rename
MANIFEST_VERSION = 1
PART_CARDS = ("PARTIDX", "ROW0", "NROWS", "NOK")  # part bookkeeping, not copied to the output
RUN_CARD = "BATCHRUN"  # the merged output's record of the run that wrote it


def run_digest(manifest: dict) -> str:
    """A short digest of a run's manifest (its ``BATCHRUN`` card)."""
    import hashlib

    text = json.dumps({"version": MANIFEST_VERSION, **manifest}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parts_dir(merged: str | os.PathLike) -> Path:
    """The state folder of a batch run writing ``merged``."""
    merged = Path(merged).absolute()
    return merged.with_name(merged.name + ".parts")


class RunLock:
    """An exclusive ``flock`` on ``<parts>/lock`` held for the life of a run.

    Parameters
    ----------
    folder : pathlib.Path
        The run's parts folder (must exist).
    """

    def __init__(self, folder: Path):
        self.path = folder / "lock"
        self._fd = None

    def acquire(self, out):
        """Take the lock or raise :class:`OutputError` naming the holder."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(
                f"{out}: another astrocnn run is writing this output ({holder}); wait for it "
                f"to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        self._fd = fd

    def release(self):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class PartStore:
    """Part files and manifest of one batch run.

    Parameters
    ----------
    merged : path-like
        The final output table the parts merge into.
    """

    def __init__(self, merged, run_id: str = ""):
        self.merged = Path(merged).absolute()
        self.folder = parts_dir(self.merged)
        self.lock = RunLock(self.folder)
        self.run_id = run_id  # written in the merged output (see run_digest)

    def complete(self) -> bool:
        """Whether this run already finished: the output exists, records this run,
        and no state folder is left.

        Raises
        ------
        OutputError
            The output exists in a format that keeps no record of its run (CSV).
        """
        if not self.merged.exists() or self.folder.exists() or not self.run_id:
            return False
        if table_format(self.merged) == "ascii.csv":
            raise OutputError(
                f"{self.merged}: already exists, and a CSV file keeps no record of the run "
                f"that wrote it: use --overwrite to redo it (FITS, ECSV and HDF5 outputs are "
                f"recognised as complete)"
            )
        return _recorded_run(self.merged) == self.run_id

    def count_ok_merged(self) -> int:
        """Rows of the merged output whose ``status`` is ok."""
        from astropy.table import Table

        status = Table.read(self.merged)["status"]
        return int(np.sum(np.char.strip(np.asarray(status).astype(str)) == "ok"))

    # -- manifest -------------------------------------------------------------------------

    def start(self, manifest: dict, *, resume: bool, overwrite: bool) -> bool:
        """Create (or, with ``resume``, reopen) the run's state and take its lock.

        Returns
        -------
        bool
            True when the interrupted run had already merged its output (it
            was stopped while cleaning up): only the cleanup is left.

        Raises
        ------
        OutputError
            The output exists, another run holds the lock, an interrupted run
            is present without ``--resume``, or the interrupted run differs
            from this one (another model, catalogue or options).
        """
        finished = resume and self.merged.exists() and self._is_our_merge()
        if self.merged.exists() and not overwrite and not finished:
            raise OutputError(f"{self.merged}: already exists (use --overwrite to replace it)")
        existed = self.folder.is_dir()
        if resume and not existed:
            raise OutputError(f"{self.merged}: nothing to resume ({self.folder} does not exist)")
        try:
            self.folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.folder}: cannot create ({exc.strerror})") from None
        self.lock.acquire(self.merged)
        try:
            if existed and not resume:
                if not overwrite:
                    raise OutputError(
                        f"{self.merged}: an interrupted batch run left {self.folder}; pass "
                        f"--resume to finish it, or --overwrite to discard it"
                    )
                self._clear()
            if resume:
                self._check_same_run(manifest)
                # temporary outputs of a merge that was killed (we hold the lock: ours)
                for stale in self.merged.parent.glob(f".{self.merged.stem}.*.tmp*"):
                    stale.unlink()
            else:
                self._write_manifest(manifest)
        except BaseException:
            self.lock.release()
            raise
        return bool(finished)

    def _is_our_merge(self) -> bool:
        """Whether the existing output is the one this run merged (same SHA-256)."""
        record = self.folder / MERGED
        return record.exists() and record.read_text().strip() == _sha256(self.merged)

    def _clear(self):
        for path in self.folder.iterdir():
            if path.name != "lock":
                path.unlink()

    def _write_manifest(self, manifest):
        with atomic_path(self.folder / MANIFEST) as tmp:
            tmp.write_text(json.dumps({"version": MANIFEST_VERSION, **manifest}, indent=1))

    def read_manifest(self) -> dict:
        try:
            return json.loads((self.folder / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise OutputError(f"{self.folder / MANIFEST}: unreadable manifest ({exc})") from None

    def _check_same_run(self, manifest):
        old = self.read_manifest()
        new = {"version": MANIFEST_VERSION, **json.loads(json.dumps(manifest))}
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        if changed:
            detail = "; ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in changed)
            raise OutputError(
                f"{self.merged}: cannot resume: the interrupted run differs ({detail}); "
                f"use --overwrite to start over"
            )

    def finish(self):
        """Delete the state folder (after a successful merge) and release the lock."""
        self._clear()
        self.lock.release()
        (self.folder / "lock").unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:
            pass  # something else was put there: leave it

    # -- parts ----------------------------------------------------------------------------

    def part_path(self, index: int) -> Path:
        return self.folder / f"part-{index:06d}.fits"

    def done(self, n_partitions: int, model_sha: str) -> set[int]:
        """Partitions whose part file exists and was written by this run's model.

        Raises
        ------
        OutputError
            If a part was written by another model (never mixed in).
        """
        from astropy.io import fits

        finished = set()
        for index in range(n_partitions):
            path = self.part_path(index)
            if not path.exists():
                continue
            try:
                header = fits.getheader(path, 1)
            except Exception:  # noqa: BLE001 - an unreadable part is redone
                path.unlink()
                continue
            if header.get("MODELSHA", "") != model_sha[:16]:
                raise OutputError(
                    f"{path}: part written by another model (checksum "
                    f"{header.get('MODELSHA', '?')}, this run {model_sha[:16]}); refusing to "
                    f"mix them: use --overwrite to start over"
                )
            finished.add(index)
        return finished

    def count_ok(self, n_partitions: int) -> int:
        """Rows predicted successfully, from the parts' headers."""
        from astropy.io import fits

        return sum(int(fits.getheader(self.part_path(i), 1)["NOK"]) for i in range(n_partitions))

    # -- merge ----------------------------------------------------------------------------

    def merge(self, n_partitions: int) -> Path:
        """Concatenate the parts, in order, into the final output (atomically)."""
        parts = [self.part_path(i) for i in range(n_partitions)]
        missing = [p.name for p in parts if not p.exists()]
        if missing:
            raise AstrocnnError(f"{self.folder}: parts missing: {', '.join(missing[:5])}")
        fmt = table_format(self.merged)

        def read(path):  # each part, with the card recording this run
            table = _read_part(path)
            table.meta[RUN_CARD] = self.run_id
            return table

        with atomic_path(self.merged) as tmp:
            if fmt == "fits":
                concatenate_tables(parts, tmp, read)
            elif fmt == "ascii.csv":
                _merge_csv(parts, tmp)
            else:
                from astropy.table import vstack

                table = vstack([read(p) for p in parts], metadata_conflicts="silent")
                write_table(table, tmp, overwrite=True)
            # if the driver dies after the rename, --resume recognises the output as ours
            (self.folder / MERGED).write_text(_sha256(tmp))
        return self.merged


def write_part(table, path: Path, *, index: int, row0: int, model_sha: str) -> Path:
    """Write one partition's output rows (atomically: complete or absent)."""
    table = table.copy(copy_data=False)
    n_ok = int(np.sum(np.asarray(table["status"]) == "ok"))
    table.meta.update(
        {
            "PARTIDX": index,
            "ROW0": row0,
            "NROWS": len(table),
            "NOK": n_ok,
            "MODELSHA": model_sha[:16],
        }
    )
    return write_table(table, path, overwrite=True)


def _read_part(path):
    from astropy.table import Table

    table = Table.read(path, format="fits", character_as_bytes=False)
    for key in PART_CARDS:
        table.meta.pop(key, None)
    return table


def _recorded_run(path) -> str:
    """The ``BATCHRUN`` card of a merged output ("" when it has none)."""
    from astropy.table import Table

    try:
        if table_format(path) == "fits":
            from astropy.io import fits

            return str(fits.getheader(path, 1).get(RUN_CARD, ""))
        return str(Table.read(path).meta.get(RUN_CARD, ""))
    except Exception:  # noqa: BLE001 - an unreadable output is not a finished run
        return ""


def _merge_csv(parts, out):
    """Stream the parts into one CSV file (array columns flattened, one header line)."""
    from astrocnn.io.catalog import flatten_array_columns

    with open(out, "w", encoding="utf-8", newline="") as f:
        for i, path in enumerate(parts):
            table = _read_part(path)
            flatten_array_columns(table)
            buffer = io.StringIO()
            table.write(buffer, format="ascii.csv")
            text = buffer.getvalue()
            f.write(text if i == 0 else text.split("\n", 1)[1] if "\n" in text else "")


def _sha256(path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def partitions(n_rows: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges of consecutive partitions of at most ``size`` rows."""
    starts = np.arange(0, n_rows, size)
    return [(int(s), int(min(s + size, n_rows))) for s in starts]
