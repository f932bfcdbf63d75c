"""Training-only code: the multiple-in-one trainer and its datasets (imports torch).

* :mod:`.trainer`: :class:`~.trainer.TrainConfig`, :class:`~.trainer.Trainer`,
  :func:`~.trainer.train` (single- and multi-dataset, DDP under ``torchrun``) and the
  per-epoch evaluation helpers;
* :mod:`.datasets`: torch datasets over PanCollection HDF5/.mat files and PanTiny TIF
  folders, balanced sampling weights, full-resolution test scenes.

Used by ``training/``, ``bench/`` and the tests; the plugin never imports it and the
release zip leaves it out (``scripts/package.py``).  What scene adaptation needs at run
time (the losses, the MTF filters, Wald's degradation) lives outside this package.
"""
