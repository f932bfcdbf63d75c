"""Headless pan-sharpening of a list of scenes, on one or many processes (``torchrun``).

``python -m engine.batch scenes.csv`` runs :func:`engine.inference.raster.pansharpen_raster`
(the call behind ``pantiny:pansharpen``) on every row of a CSV list, without QGIS.

=================  ==============================================================
``scenes``         the CSV scene list: parsing, checks, sharing out by rank
``completion``     completion records beside the outputs: what counts as done
``claim``          a lock per output: one process makes a scene at a time
``runner``         one process's share: skip, clean up, run, log, summary
``__main__``       the command line and the ``torchrun`` (gloo) wiring
=================  ==============================================================
"""
