"""Byte-level FITS reading and writing, byte for byte what astropy writes.

Astropy is the reference (and reads or writes whatever these modules decline),
but it spends milliseconds per file on headers; these modules write the many
small files of a run, and read the commonest cutout, from the bytes.

- :mod:`~astrocnn.io.fits.cards`: block and card sizes, and
  :func:`~astrocnn.io.fits.cards.format_card`, the one function that formats
  a header card (astropy's bytes); headers from cards, cards patched in place.
- :mod:`~astrocnn.io.fits.reader`: an uncompressed, unscaled primary image read
  straight from the file's bytes (the fast path of cutout reading).
- :mod:`~astrocnn.io.fits.writer`: image files from cards the caller formats
  (the simulators' scenes).
- :mod:`~astrocnn.io.fits.headers`: image files whose headers astropy builds
  once per layout and which are then reused, patched (maps, fields).
- :mod:`~astrocnn.io.fits.stamp_cubes`: one file of per-source stamp cubes per
  field, filled block by block.
- :mod:`~astrocnn.io.fits.tables`: binary tables written from a reused header,
  and tables of several files streamed into one (a batch run's merge).

Import from the modules; the package itself exports nothing.
"""
