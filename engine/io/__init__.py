"""Rasters and grids: reading and writing files, pixel windows, PAN/MS registration.

* :mod:`.raster_io`: GDAL reader and writer (the only engine module that imports GDAL);
* :mod:`.windows`: the :class:`~.windows.Window` value type and pure functions over it
  (intersection, row strips, halos) used by the reader, the writer and the streaming loops;
* :mod:`.grid`: geotransforms and the alignment of the MS on the PAN grid;
* :mod:`.pair`: opening and checking a PAN/MS file pair, nodata defaults;
* :mod:`.placement`: placing (interpolating) the MS on the PAN grid, whole or in strips;
* :mod:`.report_files`: writing JSON/HTML quality reports and Markdown result sections.

Nothing is imported here, so :mod:`.grid` and :mod:`.placement` load without GDAL.
"""
