"""``pantiny:pansharpen``: deep pan-sharpening with a PanTiny checkpoint (tiled, streamed)."""

from __future__ import annotations

import os

from qgis.core import (
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingOutputString,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..compat import FLAG_ADVANCED, NUMBER_INTEGER, creation_options_metadata, set_flags
from ..dependencies import install_instructions, missing_dependencies
from ..engine.weights.model_zoo import bundled_models, default_model_id, model_path
from ..engine.adaptation.config import DEFAULT_STEPS as DEFAULT_ADAPT_STEPS
from ..engine.inference.tiling import DEFAULT_OVERLAP, DEFAULT_TILE_SIZE
from .base import SENSOR_OPTIONS, EngineFeedback, PanTinyAlgorithm, raster_parameter

DEVICE_OPTIONS = ["auto", "cpu", "cuda"]
PRECISION_OPTIONS = ["fp32", "bf16"]


class PansharpenAlgorithm(PanTinyAlgorithm):
    """Deep-learning pan-sharpening with a bundled or user-supplied model."""

    MODEL = "MODEL"
    MODEL_FILE = "MODEL_FILE"
    BANDS = "BANDS"
    DEVICE = "DEVICE"
    TILE_SIZE = "TILE_SIZE"
    OVERLAP = "OVERLAP"
    PRECISION = "PRECISION"
    DEVICE_USED = "DEVICE_USED"
    ADAPT_STEPS = "ADAPT_STEPS"
    ADAPTED_MODEL = "ADAPTED_MODEL"
    SPECTRAL_CORRECTION = "SPECTRAL_CORRECTION"

    def name(self) -> str:
        return "pansharpen"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Pan-sharpen (deep learning, PanTiny)")

    def shortDescription(self) -> str:  # noqa: N802
        return self.tr("Fuses a panchromatic and a multispectral raster with a PanTiny neural "
                       "network into a multispectral raster on the PAN grid (CPU or GPU).")

    def tags(self) -> list[str]:
        return ["pansharpening", "pan-sharpening", "fusion", "deep learning", "neural network",
                "PanTiny", "PAN", "multispectral", "GPU", "super-resolution"]

    help_paragraphs = (
        "Fuses a single-band panchromatic raster (PAN) with a multispectral raster (MS) using a "
        "small neural network (PanTiny, arXiv:2507.15059; 81,744 parameters) trained on several "
        "satellites at once. The output lies on the PAN grid (same geotransform, CRS, extent "
        "and size) with one band per model band. Requires PyTorch in the Python that QGIS "
        "uses.",
        "Alignment is as in 'Pan-sharpen (classical methods)': integer pixel-size ratio (within "
        "1 % of an integer the MS is first resampled once onto the exact grid, with a warning), "
        "same CRS, the MS placed on the PAN grid from the geotransforms. Pixels where the PAN "
        "or any used MS band is nodata, or outside the MS footprint, are written as nodata.",
        "Input scaling: the PAN and the MS are each divided by their 99th percentile, computed "
        "once over the whole image (never per tile), exactly as during training; the result is "
        "mapped back to the MS units. The scene is processed in overlapping tiles whose centres "
        "are kept, so memory does not grow with the scene size and no seams appear.",
        "The log names the device actually used; a CUDA request without a usable GPU falls "
        "back to the CPU with a warning.",
        "Scene adaptation (ADAPT_STEPS > 0): before pan-sharpening, a copy of the model is "
        "fine-tuned for a few steps on your scene itself, so it learns your satellite's "
        "colours, sharpness and noise. No reference image is needed: the scene is shrunk by "
        "the resolution ratio with the sensor's blur and the model learns to restore the "
        "original colours (Scarpa, Vitale & Cozzolino, 'Target-adaptive CNN-based "
        "pansharpening', IEEE TGRS 2018; a full-resolution loss after Ciotola et al., IEEE "
        "TGRS 2022, is available in the engine). Use it when your satellite is not one the "
        "model was trained on (the log says so), or when the result looks too dark, too "
        "sharp or has coloured halos. At the default it takes about twice as long as the "
        "inference itself (a 1300 x 1300 scene on an idle 2-core CPU: 23 s of adaptation "
        "beside 11 s of pan-sharpening); on a satellite the model was trained on it rarely "
        "changes the result, and ADAPT_STEPS 0 saves that time. A few "
        "patches of the scene are kept aside as a check: if adaptation makes them worse, the "
        "original model is used and the log says so. Results are reproducible (fixed "
        "steps and seed on a given device). Save the adapted model with ADAPTED_MODEL and "
        "give it as MODEL_FILE (with ADAPT_STEPS 0) for more scenes of the same satellite.",
        "Spectral correction (SPECTRAL_CORRECTION, on by default): the network adds the "
        "PAN's detail, but on a satellite it has not seen its colours can drift (darker "
        "results, blue or cyan tints). The correction keeps the network's fine detail and "
        "takes everything coarser than the MS pixels from the MS itself, with the sensor's "
        "blur (MTF), so that the result, shrunk back to the MS resolution, shows the MS's "
        "colours (Wald's consistency property: Wald, Ranchin & Mangolini, PE&RS 1997; the "
        "detail injection of MTF-GLP: Aiazzi et al., PE&RS 2006). It adds about 5 % to the "
        "time of a run on a CPU. With it on, scene adaptation fine-tunes the model through "
        "the correction, so the adaptation steps go to the detail the network adds. "
        "Turn it off to see the network's raw output.",
    )
    parameter_help = {
        PanTinyAlgorithm.PAN: "the panchromatic raster, exactly one band.",
        PanTinyAlgorithm.MS:
            "the multispectral raster at an integer multiple (within 1 %) of the PAN pixel size.",
        MODEL: "the bundled model to use (the default, pantiny-bgrn-v3, is trained on "
                 "WorldView-3, WorldView-2, QuickBird, Landsat 7 and 8 and a 0.5 m scene, with "
                 "4 bands: blue, green, red, near-infrared; a model card describing its training "
                 "and scores ships with the plugin).",
        MODEL_FILE: "(optional) a checkpoint (.ckpt) of your own, e.g. trained with the "
                      "project's training tools; overrides MODEL.",
        BANDS: "(optional) the MS band numbers to feed the model, in the model's band order "
                 "(blue, green, red, NIR for the default model). Empty: chosen from the MS "
                 "band count, e.g. 2,3,5,7 for an 8-band WorldView MS, 1,2,3,4 for a 4-band MS.",
        PanTinyAlgorithm.SENSOR:
            "(optional) the satellite; sets the MTF gains used by scene adaptation and tells "
            "whether the model was trained on it. Empty: read from the file metadata where "
            "GDAL exposes it (e.g. SATELLITEID), else Generic.",
        ADAPT_STEPS: f"steps of scene adaptation before pan-sharpening (0 = off; default "
                     f"{DEFAULT_ADAPT_STEPS}, about twice as long as the inference on a CPU). "
                     "See above.",
        SPECTRAL_CORRECTION: "keep the MS's colours below the MS resolution and the network's "
                             "detail above it (default on). See above.",
        ADAPTED_MODEL: "(optional) save the model actually used (adapted, or the original "
                       "when the check reverted) as a checkpoint (.ckpt) to give as "
                       "MODEL_FILE for other scenes of the same satellite.",
        DEVICE: "auto (a CUDA GPU when available, else the CPU), cpu or cuda.",
        PRECISION: "(advanced) fp32, or bf16 autocast on a CUDA GPU (about 1.25x faster on "
                     "an H200, mean difference 0.002 of the 99th percentile, below one 8-bit "
                     "display level); on the CPU fp32 is always used.",
        TILE_SIZE: f"(advanced) tile edge in PAN pixels (default {DEFAULT_TILE_SIZE}).",
        OVERLAP: f"(advanced) overlap between tiles in PAN pixels (default {DEFAULT_OVERLAP}).",
        PanTinyAlgorithm.CREATION_OPTIONS:
            "(advanced) GDAL creation options KEY=VALUE separated by |; empty "
            "gives a tiled, DEFLATE-compressed GeoTIFF.",
        PanTinyAlgorithm.OUTPUT: "the pan-sharpened raster (.tif), in the MS data type; it opens "
                                 "in true colour (a .qml style is written next to it) as "
                                 "'PanTiny <model>'.",
        DEVICE_USED: "(output) the device the model ran on, e.g. 'cpu' or 'cuda:0'.",
    }

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(raster_parameter(self.PAN, self.tr("Panchromatic raster (1 band)")))
        self.addParameter(raster_parameter(self.MS, self.tr("Multispectral raster")))
        models = bundled_models()
        model = QgsProcessingParameterEnum(
            self.MODEL, self.tr("Model"), options=[m.id for m in models] or ["(none bundled)"],
            defaultValue=default_model_id())
        model.setUsesStaticStrings(True)
        self.addParameter(model)
        self.addParameter(set_flags(QgsProcessingParameterFile(
            self.MODEL_FILE, self.tr("Model checkpoint file (overrides Model)"),
            extension="ckpt", optional=True), FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterBand(
            self.BANDS, self.tr("MS bands to use, in the model's band order"), None, self.MS,
            optional=True, allowMultiple=True))
        sensor = QgsProcessingParameterEnum(
            self.SENSOR, self.tr("Sensor (empty: from the file metadata, else Generic)"),
            options=SENSOR_OPTIONS, optional=True)
        sensor.setUsesStaticStrings(True)
        self.addParameter(sensor)
        self.addParameter(QgsProcessingParameterNumber(
            self.ADAPT_STEPS, self.tr("Scene adaptation steps (0 = off)"), NUMBER_INTEGER,
            DEFAULT_ADAPT_STEPS, minValue=0, maxValue=10000))
        self.addParameter(QgsProcessingParameterBoolean(
            self.SPECTRAL_CORRECTION, self.tr("Spectral correction (keep the MS colours)"),
            defaultValue=True))
        device = QgsProcessingParameterEnum(
            self.DEVICE, self.tr("Device"), options=DEVICE_OPTIONS, defaultValue="auto")
        device.setUsesStaticStrings(True)
        self.addParameter(device)
        precision = QgsProcessingParameterEnum(
            self.PRECISION, self.tr("Precision"), options=PRECISION_OPTIONS, defaultValue="fp32")
        precision.setUsesStaticStrings(True)
        self.addParameter(set_flags(precision, FLAG_ADVANCED))
        self.addParameter(set_flags(QgsProcessingParameterNumber(
            self.TILE_SIZE, self.tr("Tile size (PAN pixels)"), NUMBER_INTEGER, DEFAULT_TILE_SIZE,
            minValue=64, maxValue=4096), FLAG_ADVANCED))
        self.addParameter(set_flags(QgsProcessingParameterNumber(
            self.OVERLAP, self.tr("Tile overlap (PAN pixels)"), NUMBER_INTEGER, DEFAULT_OVERLAP,
            minValue=0, maxValue=1024), FLAG_ADVANCED))
        options = QgsProcessingParameterString(
            self.CREATION_OPTIONS, self.tr("Creation options (KEY=VALUE|KEY=VALUE)"),
            defaultValue="", optional=True)
        options.setMetadata(creation_options_metadata())
        self.addParameter(set_flags(options, FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Pan-sharpened raster")))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.ADAPTED_MODEL, self.tr("Adapted model checkpoint"),
            fileFilter="PanTiny checkpoint (*.ckpt)", optional=True, createByDefault=False))
        self.addOutput(QgsProcessingOutputString(self.DEVICE_USED, self.tr("Device used")))

    def canExecute(self):  # noqa: N802
        missing = missing_dependencies()
        return (False, install_instructions(missing)) if missing else (True, "")

    def checkParameterValues(self, parameters, context):  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        tile = self.parameterAsInt(parameters, self.TILE_SIZE, context)
        overlap = self.parameterAsInt(parameters, self.OVERLAP, context)
        if tile <= 2 * overlap:
            return False, self.tr(f"the tile size ({tile}) must be larger than twice the overlap "
                                  f"({overlap})")
        return True, ""

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        missing = missing_dependencies()
        if missing:  # qgis_process and processing.run ignore canExecute() on 3.22
            raise QgsProcessingException(install_instructions(missing))
        from ..engine.inference.raster import pansharpen_raster

        pan = self.raster_path(parameters, self.PAN, context, single_band=True)
        ms = self.raster_path(parameters, self.MS, context)
        checkpoint = self.parameterAsFile(parameters, self.MODEL_FILE, context)
        if checkpoint:
            model_label = os.path.splitext(os.path.basename(checkpoint))[0]
        else:
            model_label = self.parameterAsEnumString(parameters, self.MODEL, context)
            checkpoint = self.run_engine(lambda: model_path(model_label))
        bands = self.band_numbers(parameters, self.BANDS, context,
                                  self.parameterAsRasterLayer(parameters, self.MS, context)
                                  .bandCount())
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        adapted = self.parameterAsFileOutput(parameters, self.ADAPTED_MODEL, context) or None
        self.check_no_overwrite({self.OUTPUT: output, self.ADAPTED_MODEL: adapted},
                                {self.PAN: pan, self.MS: ms, self.MODEL_FILE: checkpoint})
        sensor = self.resolve_sensor(parameters, context, pan, ms, feedback)
        steps = self.parameterAsInt(parameters, self.ADAPT_STEPS, context)
        result = self.run_engine(lambda: pansharpen_raster(
            pan, ms, output, checkpoint,
            bands=bands, device=self.parameterAsEnumString(parameters, self.DEVICE, context),
            precision=self.parameterAsEnumString(parameters, self.PRECISION, context),
            tile_size=self.parameterAsInt(parameters, self.TILE_SIZE, context),
            overlap=self.parameterAsInt(parameters, self.OVERLAP, context),
            creation_options=self.parameterAsString(parameters, self.CREATION_OPTIONS, context)
            or None, feedback=EngineFeedback(feedback), sensor=sensor, adapt_steps=steps,
            adapted_model_path=adapted, spectral_correction=self.parameterAsBoolean(
                parameters, self.SPECTRAL_CORRECTION, context)))
        self.present_raster(str(result[self.OUTPUT]), f"PanTiny {model_label}", context,
                            feedback)
        out = {self.OUTPUT: str(result[self.OUTPUT]),
               self.DEVICE_USED: str(result[self.DEVICE_USED])}
        if result.get("ADAPTED_MODEL"):
            out[self.ADAPTED_MODEL] = str(result["ADAPTED_MODEL"])
        return out
