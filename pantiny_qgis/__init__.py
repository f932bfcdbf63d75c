"""PanTiny pan-sharpening: QGIS Processing plugin entry point.

QGIS imports this package and calls :func:`classFactory` -- with ``iface=None`` under
``qgis_process`` (which then calls ``initProcessing()`` and never ``initGui()``).
Nothing heavy is imported here: no torch, no engine, no GUI.

The computation engine ships inside the plugin as :mod:`pantiny_qgis.engine` and is
always imported relatively (``from .engine import ...``), never as a top-level
``engine`` module, so another plugin's ``engine`` cannot shadow it.
"""


def classFactory(iface):  # noqa: N802 (name fixed by QGIS)
    """Return the plugin object; ``iface`` may be None (qgis_process)."""
    from .plugin import PanTinyPlugin

    return PanTinyPlugin(iface)
