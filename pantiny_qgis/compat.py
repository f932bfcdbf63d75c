"""QGIS version differences in one place (QGIS 3.22 ... 3.x, ready for the 3.36+ enums).

QGIS 3.22 only has the old unscoped names (``QgsProcessingParameterDefinition.FlagAdvanced``,
``QgsProcessingParameterNumber.Integer``, ``QgsProcessingAlgorithm.FlagNoThreading``);
3.36 introduced the scoped ``Qgis.ProcessingParameterFlag``,
``Qgis.ProcessingNumberParameterType`` and ``Qgis.ProcessingAlgorithmFlag`` that QGIS 4
code uses.  The creation-options widget metadata differs too: 3.22 uses the Python
wrapper class of the GDAL algorithms, 3.38+ the C++ ``rasteroptions`` widget type.

Usage in algorithms::

    from ..compat import FLAG_ADVANCED, NUMBER_INTEGER, set_flags, creation_options_metadata
    param = QgsProcessingParameterNumber("TILE_SIZE", "Tile size", NUMBER_INTEGER, 512)
    set_flags(param, FLAG_ADVANCED)
"""

from __future__ import annotations

from qgis.core import (
    Qgis,
    QgsProcessingAlgorithm,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterNumber,
)


def _version_int() -> int:
    version = getattr(Qgis, "versionInt", None)
    if version is not None:
        return int(version())
    return int(Qgis.QGIS_VERSION_INT)


#: QGIS version as an integer, e.g. 32216 for 3.22.16.
QGIS_VERSION_INT: int = _version_int()
#: True when the scoped Processing enums of QGIS 3.36+ exist.
HAS_SCOPED_PROCESSING_ENUMS: bool = hasattr(Qgis, "ProcessingParameterFlag")
#: First version with the C++ ``rasteroptions`` widget wrapper (QGIS 3.38).
RASTEROPTIONS_WIDGET_MIN_VERSION = 33800

if HAS_SCOPED_PROCESSING_ENUMS:  # QGIS >= 3.36 (and QGIS 4)
    FLAG_ADVANCED = Qgis.ProcessingParameterFlag.Advanced
    FLAG_OPTIONAL = Qgis.ProcessingParameterFlag.Optional
    FLAG_HIDDEN = Qgis.ProcessingParameterFlag.Hidden
    NUMBER_INTEGER = Qgis.ProcessingNumberParameterType.Integer
    NUMBER_DOUBLE = Qgis.ProcessingNumberParameterType.Double
    ALG_FLAG_NO_THREADING = Qgis.ProcessingAlgorithmFlag.NoThreading
    ALG_FLAG_SUPPORTS_BATCH = Qgis.ProcessingAlgorithmFlag.SupportsBatch
    ALG_FLAG_CAN_CANCEL = Qgis.ProcessingAlgorithmFlag.CanCancel
    ALG_FLAG_KNOWN_ISSUES = Qgis.ProcessingAlgorithmFlag.KnownIssues
else:  # QGIS 3.22 ... 3.34
    FLAG_ADVANCED = QgsProcessingParameterDefinition.FlagAdvanced
    FLAG_OPTIONAL = QgsProcessingParameterDefinition.FlagOptional
    FLAG_HIDDEN = QgsProcessingParameterDefinition.FlagHidden
    NUMBER_INTEGER = QgsProcessingParameterNumber.Integer
    NUMBER_DOUBLE = QgsProcessingParameterNumber.Double
    ALG_FLAG_NO_THREADING = QgsProcessingAlgorithm.FlagNoThreading
    ALG_FLAG_SUPPORTS_BATCH = QgsProcessingAlgorithm.FlagSupportsBatch
    ALG_FLAG_CAN_CANCEL = QgsProcessingAlgorithm.FlagCanCancel
    ALG_FLAG_KNOWN_ISSUES = QgsProcessingAlgorithm.FlagKnownIssues


def set_flags(parameter: QgsProcessingParameterDefinition, *flags) -> QgsProcessingParameterDefinition:
    """OR ``flags`` (e.g. :data:`FLAG_ADVANCED`) into ``parameter.flags()``; return the parameter."""
    combined = parameter.flags()
    for flag in flags:
        combined = combined | flag
    parameter.setFlags(combined)
    return parameter


def has_flag(parameter: QgsProcessingParameterDefinition, flag) -> bool:
    """True when ``parameter.flags()`` contains ``flag``."""
    return bool(parameter.flags() & flag)


def creation_options_metadata(version_int: int | None = None) -> dict:
    """Widget metadata for a ``CREATION_OPTIONS`` string parameter (``KEY=VALUE|KEY=VALUE``).

    QGIS >= 3.38: the C++ ``rasteroptions`` widget type.  Older versions (3.22 verified):
    the Python wrapper class the GDAL algorithms of the processing plugin use.
    """
    version = QGIS_VERSION_INT if version_int is None else version_int
    if version >= RASTEROPTIONS_WIDGET_MIN_VERSION:
        return {"widget_wrapper": {"widget_type": "rasteroptions"}}
    return {"widget_wrapper": {
        "class": "processing.algs.gdal.ui.RasterOptionsWidget.RasterOptionsWidgetWrapper"}}
