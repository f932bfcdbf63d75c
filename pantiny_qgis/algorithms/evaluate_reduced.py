"""``pantiny:evaluate_reduced``: Wald's reduced-resolution protocol with reference indices."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
)

from ..compat import FLAG_ADVANCED, NUMBER_INTEGER, set_flags
from ..engine.adaptation.config import DEFAULT_STEPS as DEFAULT_ADAPT_STEPS
from ..engine.weights.model_zoo import bundled_models, model_path
from .base import METHOD_OPTIONS, EngineFeedback, PanTinyAlgorithm, raster_parameter
from .evaluate_qnr import quality_map_parameter, report_parameter

#: METHOD option that evaluates the checkpoint given as MODEL_FILE.
MODEL_FILE_OPTION = "Deep model from MODEL_FILE"


def deep_method_options() -> list[str]:
    """The deep METHOD options (static strings, appended after the classical ones): the
    bundled model ids, then :data:`MODEL_FILE_OPTION`."""
    return [m.id for m in bundled_models()] + [MODEL_FILE_OPTION]

#: Numeric outputs (public API).
REDUCED_OUTPUTS = {
    "Q2N": "Q2n (Q4 / Q8) hypercomplex quality index (1 is best)",
    "SAM": "Spectral angle mapper, degrees (0 is best)",
    "ERGAS": "ERGAS (0 is best)",
    "SCC": "Spatial correlation coefficient (1 is best)",
    "Q_AVG": "Mean per-band UIQI (1 is best)",
    "PSNR": "Peak signal-to-noise ratio, dB, mean over bands",
    "SSIM": "Structural similarity, mean over bands (1 is best)",
}


class EvaluateReducedAlgorithm(PanTinyAlgorithm):
    """Wald protocol: degrade, fuse, compare with the original MS."""

    group_label = "Quality assessment"
    group_id = "quality"

    MODEL_FILE = "MODEL_FILE"
    BANDS = "BANDS"
    ADAPT_STEPS = "ADAPT_STEPS"
    SPECTRAL_CORRECTION = "SPECTRAL_CORRECTION"
    DEVICE = "DEVICE"

    def name(self) -> str:
        return "evaluate_reduced"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Evaluate a method at reduced resolution (Wald protocol)")

    def shortDescription(self) -> str:  # noqa: N802
        return self.tr("Degrades a PAN/MS pair by the resolution ratio with the sensor's MTF "
                       "filters, fuses it and scores the result against the original MS "
                       "(Q2n, SAM, ERGAS, SCC, Q, PSNR, SSIM).")

    def tags(self) -> list[str]:
        return ["Wald", "reduced resolution", "Q2n", "Q4", "Q8", "SAM", "ERGAS", "quality",
                "pansharpening", "metrics"]

    help_paragraphs = (
        "Wald's protocol (Wald et al., PE&RS 1997): the PAN and the MS are low-pass filtered "
        "with Gaussian filters matched to the sensor's MTF gains and decimated by the "
        "resolution ratio; the reduced pair is fused with METHOD and the result is compared "
        "with the original MS, which serves as the reference.",
        "Indices: Q2N (Q4 for 4 bands, Q8 for 8; distinct blocks), SAM in degrees, ERGAS "
        "(100/ratio scaling), SCC (Sobel, uncentred correlation), Q_AVG (mean per-band Q, "
        "sliding window), PSNR (dB, per band with the data's peak, averaged) and SSIM. Pixels "
        "where the PAN or any MS band is nodata are excluded.",
        "PAN and MS must overlap, share a CRS and have an integer pixel-size ratio (within 1 % "
        "of an integer the MS is first resampled once onto the exact grid); the MS is "
        "matched to the PAN from the geotransforms (offsets rounded to whole PAN pixels). The "
        "reduced data follow the literature's conventions (exact-gain MTF filters, toolbox "
        "decimation phase, 23-tap interpolation), so the numbers compare with published "
        "reduced-resolution tables.",
        "Deep models: choose a bundled model id as METHOD (or 'Deep model from MODEL_FILE' "
        "with your own checkpoint) to judge the neural network on your own scene beside the "
        "classical methods. With ADAPT_STEPS > 0 the model is first adapted to the scene "
        "(Scarpa, Vitale & Cozzolino, IEEE TGRS 2018) using only the degraded pair, never "
        "the reference, so the scores show what adaptation would bring on this scene. "
        "SPECTRAL_CORRECTION (on by default, as in 'Pan-sharpen (deep learning)') keeps the "
        "MS's colours below the MS resolution; turn it off to score the raw network output.",
    )
    parameter_help = {
        PanTinyAlgorithm.PAN: "the panchromatic raster (one band) at full resolution.",
        PanTinyAlgorithm.MS: "the multispectral raster at full resolution.",
        PanTinyAlgorithm.METHOD:
            "the fusion method to evaluate: a classical one (EXP, Brovey, GSA, MTF-GLP-HPM, "
            "MTF-GLP), a bundled deep model id, or 'Deep model from MODEL_FILE'.",
        MODEL_FILE: "(optional) a deep-model checkpoint (.ckpt); evaluated when given "
                    "(whatever METHOD says) or required by 'Deep model from MODEL_FILE'.",
        BANDS: "(optional, deep models) the MS bands to feed the model in its band order; "
               "empty: chosen from the band count (2,3,5,7 of an 8-band WorldView MS). The "
               "reference is the same bands.",
        ADAPT_STEPS: "(deep models) steps of scene adaptation on the degraded pair before "
                     f"fusing it (0 = off; 'Pan-sharpen (deep learning)' uses "
                     f"{DEFAULT_ADAPT_STEPS} by default).",
        SPECTRAL_CORRECTION: "(deep models) apply the spectral correction of 'Pan-sharpen "
                             "(deep learning)' to the model output (default on).",
        DEVICE: "(advanced, deep models) auto, cpu or cuda.",
        PanTinyAlgorithm.SENSOR: "the satellite; sets the MTF gains of the degradation filters.",
        PanTinyAlgorithm.BLOCK_SIZE: "block size of Q2n and window of Q in pixels (default 32).",
        PanTinyAlgorithm.REPORT:
            "(optional) report file: an HTML page (name ending in .html) with the scores of "
            "METHOD beside EXP, per-band charts and pictures of the reduced images, or JSON.",
        PanTinyAlgorithm.QUALITY_MAP:
            "(optional) raster with one pixel per block of the reduced images (BLOCK_SIZE MS "
            "pixels) and three bands: local 1 - Q, SAM in degrees and RMSE in % of the "
            "reference mean (0 is best in each; shown as a colour composite, dark = good).",
        **{key: f"(output) {label}." for key, label in REDUCED_OUTPUTS.items()},
    }

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(raster_parameter(self.PAN, self.tr("Panchromatic raster (1 band)")))
        self.addParameter(raster_parameter(self.MS, self.tr("Multispectral raster")))
        method = QgsProcessingParameterEnum(
            self.METHOD, self.tr("Fusion method to evaluate"),
            options=list(METHOD_OPTIONS) + deep_method_options(), defaultValue="MTF-GLP-HPM")
        method.setUsesStaticStrings(True)
        self.addParameter(method)
        self.addParameter(self.sensor_parameter())
        self.addParameter(QgsProcessingParameterNumber(
            self.BLOCK_SIZE, self.tr("Block size of Q2n and Q (pixels)"), NUMBER_INTEGER, 32,
            minValue=8, maxValue=512))
        self.addParameter(report_parameter(self.tr))
        self.addParameter(quality_map_parameter(self.tr))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL_FILE, self.tr("Deep-model checkpoint (overrides METHOD)"),
            extension="ckpt", optional=True))
        self.addParameter(QgsProcessingParameterBand(
            self.BANDS, self.tr("MS bands for a deep model, in its band order"), None,
            self.MS, optional=True, allowMultiple=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.ADAPT_STEPS, self.tr("Scene adaptation steps for a deep model (0 = off)"),
            NUMBER_INTEGER, 0, minValue=0, maxValue=10000))
        self.addParameter(QgsProcessingParameterBoolean(
            self.SPECTRAL_CORRECTION, self.tr("Spectral correction of a deep model's output"),
            defaultValue=True))
        device = QgsProcessingParameterEnum(
            self.DEVICE, self.tr("Device for a deep model"), options=["auto", "cpu", "cuda"],
            defaultValue="auto")
        device.setUsesStaticStrings(True)
        self.addParameter(set_flags(device, FLAG_ADVANCED))
        for key, label in REDUCED_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..engine.metrics.evaluation import evaluate_reduced_files

        pan = self.raster_path(parameters, self.PAN, context, single_band=True)
        ms = self.raster_path(parameters, self.MS, context)
        choice = self.parameterAsEnumString(parameters, self.METHOD, context)
        checkpoint = self.parameterAsFile(parameters, self.MODEL_FILE, context) or None
        if checkpoint is None and choice == MODEL_FILE_OPTION:
            raise QgsProcessingException(
                "METHOD is 'Deep model from MODEL_FILE' but no MODEL_FILE is given: choose a "
                "checkpoint (.ckpt) or a bundled model id")
        if checkpoint is not None:
            method = f"deep model {checkpoint}"
        elif choice in METHOD_OPTIONS:
            method = METHOD_OPTIONS[choice]
        else:  # a bundled model id
            checkpoint = self.run_engine(lambda: model_path(choice))
            method = choice
        bands = self.parameterAsInts(parameters, self.BANDS, context) or None
        steps = self.parameterAsInt(parameters, self.ADAPT_STEPS, context)
        device = self.parameterAsEnumString(parameters, self.DEVICE, context) or "auto"
        sensor = self.parameterAsEnumString(parameters, self.SENSOR, context)
        block = self.parameterAsInt(parameters, self.BLOCK_SIZE, context)
        report_path = self.parameterAsFileOutput(parameters, self.REPORT, context)
        map_path = self.quality_map_path(parameters, context)
        self.check_no_overwrite({self.REPORT: report_path, self.QUALITY_MAP: map_path},
                                {self.PAN: pan, self.MS: ms})
        scores = self.run_engine(lambda: evaluate_reduced_files(
            pan, ms, method=method, sensor=sensor, block_size=block,
            report_path=report_path or None, feedback=EngineFeedback(feedback),
            quality_map_path=map_path, checkpoint=checkpoint, bands=bands, adapt_steps=steps,
            device=device, spectral_correction=self.parameterAsBoolean(
                parameters, self.SPECTRAL_CORRECTION, context)))
        results = {key: float(scores[key]) for key in REDUCED_OUTPUTS}
        if report_path:
            results[self.REPORT] = str(report_path)
        if map_path:
            results[self.QUALITY_MAP] = map_path
            self.name_loaded_layer(map_path, self.tr("Local quality (reduced resolution)"),
                                   context)
        return results
