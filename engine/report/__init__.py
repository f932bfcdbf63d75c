"""Human-readable quality reports: PNG encoding, SVG charts, previews, the HTML page.

Nothing here imports GDAL at load time (previews read files through
:mod:`engine.io.raster_io` when called), nor QGIS, nor torch.
"""
