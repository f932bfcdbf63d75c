"""The plugin object QGIS keeps: registers/unregisters the PanTiny Processing provider."""

from __future__ import annotations

from qgis.core import Qgis, QgsApplication, QgsMessageLog


class PanTinyPlugin:
    """Plugin object returned by :func:`pantiny_qgis.classFactory`.

    ``iface`` is stored but only ever used in :meth:`initGui` / :meth:`unload`: under
    ``qgis_process`` it is None and only :meth:`initProcessing` is called.
    """

    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None  # kept referenced so the Python side is never garbage-collected

    def initProcessing(self) -> None:  # noqa: N802 (QGIS API name)
        """Create the provider once and add it to the Processing registry."""
        if self.provider is not None:
            return
        from .provider import PanTinyProvider

        provider = PanTinyProvider()
        if not QgsApplication.processingRegistry().addProvider(provider):
            QgsMessageLog.logMessage(
                "Could not register the PanTiny Processing provider: another provider with "
                "id 'pantiny' is already loaded. Disable the other copy of the plugin and "
                "restart QGIS.", "PanTiny", Qgis.Critical)
            return
        self.provider = provider

    def initGui(self) -> None:  # noqa: N802 (QGIS API name)
        """Desktop start-up: register the provider (guarded against double registration)."""
        self.initProcessing()

    def unload(self) -> None:
        """Remove the provider (the registry deletes it)."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
