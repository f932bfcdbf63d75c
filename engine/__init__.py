"""pantiny engine: pan-sharpening models, quality indices, Wald protocol and fusion.

Pure computation: imports only numpy, scipy, torch and h5py (lazily where heavy); GDAL
only in :mod:`.io.raster_io`.  Inside the QGIS plugin this package is reached as
``pantiny_qgis.engine``, so every internal import is relative.  Nothing here imports
torch at load time except :mod:`.devices`, :mod:`.losses`, :mod:`.models`,
:mod:`.inference.predictor`, :mod:`.inference.reduced`, :mod:`.adaptation.adapt`,
:mod:`.adaptation.fr_loss` and :mod:`.trainer`.

Map of the package:

=====================  ==========================================================
``errors``, ``feedback``  exceptions with user-facing messages; progress/cancel protocol
``sensors``            sensor table: bands, MTF gains (GNyq), ratio; Processing options
``filters``            MTF-matched Gaussian filters, interp23tap, bicubic, decimation
``wald``               Wald's reduced-resolution degradation of a PAN/MS pair
``nodata``             filling invalid pixels before filtering
``devices``            torch device selection and autocast (torch)
``losses``             training and fine-tuning losses (torch)
``io/``                GDAL raster reader/writer, pixel windows, grids, PAN/MS pair
                       checks, MS placement on the PAN grid, report files
``fusion/``            classical methods (EXP, Brovey, GSA, MTF-GLP, MTF-GLP-HPM),
                       strip streaming, ``raster``: classical pan-sharpening of files
``models/``            PanTiny and peer networks, model registry (torch)
``inference/``         tile layout (``tiling``, no torch), tiled predictor (torch),
                       input scaling, ``raster``: model pan-sharpening of files,
                       ``scene_adaptation`` (scene adaptation of files), ``reduced``
                       (a deep model inside Wald's protocol)
``adaptation/``        scene adaptation: fine-tune a copy of a model on the scene
                       (``config``, ``sampling``: no torch; ``fr_loss``, ``adapt``)
``weights/``           checkpoint format (save/load) and the bundled model zoo
``metrics/``           quality indices (Q2n, SAM, ERGAS, SCC, QNR, HQNR, ...) and
                       ``evaluation`` of raster files (Wald protocol, no-reference)
``trainer/``           training only (multi-dataset trainer, datasets); not shipped
                       in the plugin zip
=====================  ==========================================================
"""

__version__ = "0.1.0"
