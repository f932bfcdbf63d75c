"""Model inference: tiled prediction over arrays and streamed raster files.

* :mod:`.tiling`: the tile layout (default tile size, overlap, blend; tile spans and
  cross-fade weights), numpy only, so the plugin reads the defaults at load;
* :mod:`.predictor`: :class:`~.predictor.TiledPredictor` (torch), whole arrays or
  streamed rows of tiles;
* :mod:`.raster`: :func:`~.raster.pansharpen_raster`, files in, file out, bounded memory;
* :mod:`.scaling`: the input scaling (percentile divisors) stored in checkpoints.

Nothing is imported here: importing :mod:`.tiling` never imports torch.
"""
