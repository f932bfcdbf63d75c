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
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterEnum,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProperty,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..compat import NUMBER_INTEGER
from ..engine.sensors import sensor_options
from ..meta import ICON_PATH

#: QGIS stores "no bound" of a number parameter as +-DBL_MAX (or the int limits).
_NO_BOUND = 1e300

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
    QUALITY_MAP = "QUALITY_MAP"
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
        """The help paragraphs, then each parameter and output by its label, with its id
        (for qgis_process and scripts) in brackets."""
        lines = [self.tr(p) for p in self.help_paragraphs]
        lines.append(self.tr("Parameters and outputs:"))
        for pid, text in self.parameter_help.items():
            definition = self.parameterDefinition(pid) or self.outputDefinition(pid)
            label = definition.description() if definition is not None else ""
            lines.append(f"{label} [{pid}]: {self.tr(text)}" if label else
                         f"[{pid}]: {self.tr(text)}")
        return "\n".join(lines)

    def addParameter(self, parameter, createOutput=True):  # noqa: N802 (QGIS API name)
        """Add a parameter and attach its plain-words help (``parameter_help``)."""
        text = self.parameter_help.get(parameter.name())
        if text and hasattr(parameter, "setHelp"):
            parameter.setHelp(self.tr(text))
        return super().addParameter(parameter, createOutput)

    def checkParameterValues(self, parameters, context):  # noqa: N802 (QGIS API name)
        """Numeric parameters first, with their allowed range in the message (QGIS alone
        only says 'Incorrect parameter value'), then QGIS's own checks."""
        from ..engine.errors import InputError
        from ..engine.params import check_number

        for definition in self.parameterDefinitions():
            if not isinstance(definition, QgsProcessingParameterNumber):
                continue
            value = parameters.get(definition.name()) if parameters else None
            if value is None or value == "" or isinstance(value, QgsProperty):
                continue
            lo, hi = definition.minimum(), definition.maximum()
            try:
                check_number(definition.name(), value,
                             lo if abs(lo) < _NO_BOUND else None,
                             hi if abs(hi) < _NO_BOUND else None,
                             integer=definition.dataType() == NUMBER_INTEGER)
            except InputError as exc:
                return False, str(exc)
        return super().checkParameterValues(parameters, context)

    # -- helpers for subclasses -------------------------------------------------------
    def band_numbers(self, parameters: dict, name: str, context, band_count: int
                     ) -> list[int] | None:
        """1-based band numbers of a band-list parameter, parsed from what users type
        (``2,3,5,7``, ``2;3;5;7``, a list); None when empty.  Non-numbers, duplicates and
        numbers outside ``1..band_count`` stop with a message saying which and why."""
        from ..engine.errors import InputError
        from ..engine.params import parse_bands

        value = parameters.get(name) if parameters else None
        if isinstance(value, QgsProperty):
            value = self.parameterAsInts(parameters, name, context)
        try:
            return parse_bands(value, band_count, name)
        except InputError as exc:
            raise QgsProcessingException(str(exc)) from exc

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

    def present_raster(self, path: str, layer_name: str, context, feedback) -> None:
        """Make a pan-sharpened raster open as a person expects: a ``.qml`` default style
        next to it (true colour R, G, B from the band names, 2-98 % stretch), and, when
        Processing loads it into the project, the layer name ``layer_name`` and that style
        (a post-processor, since Processing loads layers without their default style)."""
        from ..engine.errors import EngineError
        from ..engine.io.display import write_default_style

        try:
            style = write_default_style(path)
        except (EngineError, OSError) as exc:  # the raster is fine; only its style is missing
            style = None
            feedback.pushInfo(f"no default style written: {exc}")
        self.name_loaded_layer(path, layer_name, context)
        if style and context.willLoadLayerOnCompletion(path):
            context.layerToLoadOnCompletionDetails(path).setPostProcessor(
                TrueColourStyle.create())

    def quality_map_path(self, parameters: dict, context) -> str | None:
        """The QUALITY_MAP destination, or None when the user did not ask for one."""
        if parameters.get(self.QUALITY_MAP) in (None, ""):
            return None
        return self.parameterAsOutputLayer(parameters, self.QUALITY_MAP, context) or None

    def name_loaded_layer(self, path: str, name: str, context) -> None:
        """Name the layer Processing loads from ``path`` (when it loads one)."""
        if context.willLoadLayerOnCompletion(path):
            context.layerToLoadOnCompletionDetails(path).name = name

    def check_no_overwrite(self, outputs: dict, inputs: dict) -> None:
        """Stop before computing when an output (or report) path is an input file or one of
        its sidecars (links, ``..``, letter case resolved): the input would be destroyed; or
        when an output cannot be written at all."""
        from ..engine.io.paths import check_outputs_distinct

        self.run_engine(lambda: check_outputs_distinct(outputs, inputs))

    def run_engine(self, call: Callable[[], Any]) -> Any:
        """Run an engine call; engine errors become QgsProcessingException with the same text.

        SIGTERM during the call raises an engine error (partial outputs are removed)."""
        from ..engine.errors import EngineError
        from ..engine.signals import terminate_raises

        try:
            with terminate_raises():
                return call()
        except EngineError as exc:
            raise QgsProcessingException(str(exc)) from exc
        except MemoryError as exc:
            raise QgsProcessingException(
                "not enough memory for this raster; process a smaller extent") from exc


class TrueColourStyle(QgsProcessingLayerPostProcessorInterface):
    """Applies a raster's default style (``<name>.qml``) once Processing loaded it."""

    #: Python references to the processors handed to QGIS (QGIS calls them later).
    _alive: list["TrueColourStyle"] = []

    @classmethod
    def create(cls) -> "TrueColourStyle":
        cls._alive = cls._alive[-63:] + [cls()]
        return cls._alive[-1]

    def postProcessLayer(self, layer, context, feedback):  # noqa: N802 (QGIS API name)
        if isinstance(layer, QgsRasterLayer):
            layer.loadDefaultStyle()
            layer.triggerRepaint()


def raster_parameter(name: str, label: str) -> QgsProcessingParameterRasterLayer:
    return QgsProcessingParameterRasterLayer(name, label)
