"""pantiny engine: pan-sharpening models, quality indices, Wald protocol and fusion.

Pure computation: imports only numpy, scipy, torch and h5py (lazily where heavy); GDAL
only in :mod:`.io.raster_io`.  Inside the QGIS plugin this package is reached as
``pantiny_qgis.engine``, so every internal import is relative.  Nothing here imports
torch at load time except :mod:`.devices`, :mod:`.losses`, :mod:`.models`,
:mod:`.inference.predictor`, :mod:`.inference.reduced`,
:mod:`.inference.spectral_correction_torch`, :mod:`.adaptation.adapt`,
:mod:`.adaptation.fr_loss` and :mod:`.trainer`.

Map of the package:

=====================  ==========================================================
``errors``, ``feedback``  exceptions with user-facing messages; progress/cancel protocol
``params``, ``signals``  user-typed parameters (BANDS, numeric ranges); SIGTERM raises,
                       so partial outputs are removed
``sensors``            sensor table: bands, MTF gains (GNyq), ratio; Processing options
``filters``            MTF-matched Gaussian filters, interp23tap, bicubic, decimation
``wald``               Wald's reduced-resolution degradation of a PAN/MS pair
``nodata``             filling invalid pixels before filtering
``devices``            torch device selection and autocast (torch)
``losses``             training and fine-tuning losses (torch)
``io/``                GDAL raster reader/writer, pixel windows, grids, PAN/MS pair
                       checks (near-integer ratios resampled), MS placement on the PAN
                       grid, output paths that would overwrite an input, report files,
                       display (true-colour bands, QGIS default style)
``fusion/``            classical methods (EXP, Brovey, GSA, MTF-GLP, MTF-GLP-HPM),
                       strip streaming, ``raster``: classical pan-sharpening of files
``models/``            PanTiny and peer networks, model registry, the folded
                       PanTiny of CPU inference (torch)
``inference/``         tile layout (``tiling``, no torch), tiled predictor (torch),
                       input scaling, out-of-memory ``fallback``, ``raster``: model
                       pan-sharpening of files, ``scene_adaptation`` (scene adaptation
                       of files), ``reduced`` (a deep model inside Wald's protocol),
                       ``spectral_correction`` (the MS's colours below the MS
                       resolution, numpy; ``_torch``: the same on a GPU)
``adaptation/``        scene adaptation: fine-tune a copy of a model on the scene
                       (``config``, ``sampling``: no torch; ``fr_loss``, ``adapt``)
``batch/``             ``python -m engine.batch``: a CSV list of scenes, sharded over
                       ``torchrun`` processes, resumable (completion records)
``weights/``           checkpoint format (save/load) and the bundled model zoo
``metrics/``           quality indices (Q2n, SAM, ERGAS, SCC, QNR, HQNR, ...), local
                       indices per block (``quality_map``) and ``evaluation`` of raster
                       files (Wald protocol, no-reference)
``report/``            the HTML report: PNG encoder, SVG charts, true-colour previews
``trainer/``           training only (multi-dataset trainer, datasets); not shipped
                       in the plugin zip
=====================  ==========================================================
"""

__version__ = "0.1.0"
