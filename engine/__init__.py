"""pantiny engine: pan-sharpening models, quality indices, Wald protocol and fusion.

Pure computation: imports only numpy, scipy, torch and h5py (lazily where heavy);
GDAL is used only inside :mod:`raster_io`.  Inside the QGIS plugin this package is
reached as ``pantiny_qgis.engine``, so every internal import is relative.
"""

__version__ = "0.1.0"
