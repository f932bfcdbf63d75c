"""Shared plumbing of the pantiny algorithms: identity, feedback bridge, error translation.

Algorithms stay thin: they read parameters, call one engine function with file paths
and a feedback bridge, and return plain Python values.  Engine errors become
``QgsProcessingException`` with the engine's message (what is wrong, what to do).
"""

from __future__ import annotations

from typing import Any, Callable

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterEnum,
    QgsProcessingParameterRasterLayer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..engine.sensors import sensor_options
from ..meta import ICON_PATH

HELP_URL = "https://github.com/pantiny-qgis/pantiny_qgis#algorithms"

#: SENSOR choices, from the engine's sensor table (static strings: stored verbatim in batch
#: files and models; ``engine.sensors.PROCESSING_SENSORS`` only ever grows at the end).
SENSOR_OPTIONS = sensor_options()

#: METHOD choices of the classical algorithms (static strings) -> engine.fusion ids.
METHOD_OPTIONS = {
    "EXP": "exp",
    "Brovey": "brovey",
    "GSA": "gsa",
    "MTF-GLP-HPM": "mtf_glp_hpm",
    "MTF-GLP": "mtf_glp",
}


class EngineFeedback:
    """Adapter from QgsProcessingFeedback to the engine's feedback protocol."""

    def __init__(self, feedback: QgsProcessingFeedback | None) -> None:
        self._feedback = feedback or QgsProcessingFeedback()

    def set_progress(self, percent: float) -> None:
        self._feedback.setProgress(float(percent))

    def set_text(self, text: str) -> None:
        self._feedback.setProgressText(text)

    def info(self, text: str) -> None:
        self._feedback.pushInfo(text)

    def warning(self, text: str) -> None:
        push = getattr(self._feedback, "pushWarning", None)
        (push or self._feedback.reportError)(text)

    def is_canceled(self) -> bool:
        return bool(self._feedback.isCanceled())


class PanTinyAlgorithm(QgsProcessingAlgorithm):
    """Base class: group, icon, help URL, new-instance cloning, engine error translation.

    Parameter and output ids shared by several algorithms are class constants (public
    API, stored in batch files and models: never rename one); ``initAlgorithm``,
    ``processAlgorithm`` and ``parameter_help`` all use them.
    """

    PAN = "PAN"
    MS = "MS"
    SENSOR = "SENSOR"
    METHOD = "METHOD"
    BLOCK_SIZE = "BLOCK_SIZE"
    CREATION_OPTIONS = "CREATION_OPTIONS"
    REPORT = "REPORT"
    OUTPUT = "OUTPUT"

    def group(self) -> str:
        return self.tr(self.group_label)

    def groupId(self) -> str:  # noqa: N802
        return self.group_id

    group_label = "Pan-sharpening"
    group_id = "pansharpening"

    def createInstance(self) -> "PanTinyAlgorithm":  # noqa: N802
        return type(self)()

    def icon(self) -> QIcon:
        return QIcon(ICON_PATH)

    def helpUrl(self) -> str:  # noqa: N802
        return HELP_URL

    def tr(self, text: str) -> str:
        return QCoreApplication.translate(type(self).__name__, text)

    #: Plain-text paragraphs of the help (shown by the dialog, one <p> per line, and by
    #: ``qgis_process help`` as they are).
    help_paragraphs: tuple[str, ...] = ()
    #: Plain-words help of every parameter and output id (public API ids).
    parameter_help: dict[str, str] = {}

    def shortHelpString(self) -> str:  # noqa: N802
        lines = [self.tr(p) for p in self.help_paragraphs]
        lines.append(self.tr("Parameters:"))
        lines += [f"{pid}: {self.tr(text)}" for pid, text in self.parameter_help.items()]
        return "\n".join(lines)

    def addParameter(self, parameter, createOutput=True):  # noqa: N802 (QGIS API name)
        """Add a parameter and attach its plain-words help (``parameter_help``)."""
        text = self.parameter_help.get(parameter.name())
        if text and hasattr(parameter, "setHelp"):
            parameter.setHelp(self.tr(text))
        return super().addParameter(parameter, createOutput)

    # -- helpers for subclasses -------------------------------------------------------
    def sensor_parameter(self, default: str = "Generic") -> QgsProcessingParameterEnum:
        param = QgsProcessingParameterEnum(
            self.SENSOR, self.tr("Sensor (sets the MTF gains of the filters)"),
            options=SENSOR_OPTIONS, defaultValue=default)
        param.setUsesStaticStrings(True)
        return param

    def resolve_sensor(self, parameters: dict, context, pan: str, ms: str, feedback) -> str:
        """The SENSOR option, or (when empty) the satellite named in the MS/PAN metadata,
        or 'Generic'; the choice is logged."""
        from ..engine.inference.scene_adaptation import sensor_from_files

        chosen = self.parameterAsEnumString(parameters, self.SENSOR, context)
        if chosen:
            return chosen
        found = sensor_from_files(ms, pan)
        if found is not None:
            feedback.pushInfo(f"sensor: {found.name} (read from the file metadata)")
            return found.key
        feedback.pushInfo("sensor: not given and not named in the file metadata; using the "
                          "generic MTF gains (set SENSOR if you know the satellite)")
        return "generic"

    def raster_path(self, parameters: dict, name: str, context, single_band: bool = False) -> str:
        """File path of a raster parameter; refuses non-GDAL sources and bad band counts."""
        layer = self.parameterAsRasterLayer(parameters, name, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException(self.invalidRasterError(parameters, name))
        if layer.providerType() != "gdal":
            raise QgsProcessingException(
                f"{name}: the layer '{layer.name()}' is not a file raster (provider "
                f"'{layer.providerType()}'); save it to a GeoTIFF first and use that file")
        if single_band and layer.bandCount() != 1:
            raise QgsProcessingException(
                f"{name} must be a single-band panchromatic raster, but '{layer.name()}' has "
                f"{layer.bandCount()} bands; extract the PAN band first (e.g. with "
                "'Rearrange bands' or gdal_translate -b N)")
        return layer.source()

    def run_engine(self, call: Callable[[], Any]) -> Any:
        """Run an engine call; engine errors become QgsProcessingException with the same text."""
        from ..engine.errors import EngineError

        try:
            return call()
        except EngineError as exc:
            raise QgsProcessingException(str(exc)) from exc
        except MemoryError as exc:
            raise QgsProcessingException(
                "not enough memory for this raster; process a smaller extent") from exc


def raster_parameter(name: str, label: str) -> QgsProcessingParameterRasterLayer:
    return QgsProcessingParameterRasterLayer(name, label)
