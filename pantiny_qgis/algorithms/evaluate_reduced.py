"""``pantiny:evaluate_reduced``: Wald's reduced-resolution protocol with reference indices."""

from __future__ import annotations

from qgis.core import QgsProcessingOutputNumber, QgsProcessingParameterEnum, QgsProcessingParameterNumber

from ..compat import NUMBER_INTEGER
from .base import METHOD_OPTIONS, EngineFeedback, PanTinyAlgorithm, raster_parameter
from .evaluate_qnr import quality_map_parameter, report_parameter

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
        "PAN and MS must overlap, share a CRS and have an integer pixel-size ratio; the MS is "
        "matched to the PAN from the geotransforms (offsets rounded to whole PAN pixels). The "
        "reduced data follow the literature's conventions (exact-gain MTF filters, toolbox "
        "decimation phase, 23-tap interpolation), so the numbers compare with published "
        "reduced-resolution tables.",
    )
    parameter_help = {
        PanTinyAlgorithm.PAN: "the panchromatic raster (one band) at full resolution.",
        PanTinyAlgorithm.MS: "the multispectral raster at full resolution.",
        PanTinyAlgorithm.METHOD:
            "the classical fusion method to evaluate (EXP, Brovey, GSA, MTF-GLP-HPM, "
            "MTF-GLP).",
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
            self.METHOD, self.tr("Fusion method to evaluate"), options=list(METHOD_OPTIONS),
            defaultValue="MTF-GLP-HPM")
        method.setUsesStaticStrings(True)
        self.addParameter(method)
        self.addParameter(self.sensor_parameter())
        self.addParameter(QgsProcessingParameterNumber(
            self.BLOCK_SIZE, self.tr("Block size of Q2n and Q (pixels)"), NUMBER_INTEGER, 32,
            minValue=8, maxValue=512))
        self.addParameter(report_parameter(self.tr))
        self.addParameter(quality_map_parameter(self.tr))
        for key, label in REDUCED_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..engine.metrics.evaluation import evaluate_reduced_files

        pan = self.raster_path(parameters, self.PAN, context, single_band=True)
        ms = self.raster_path(parameters, self.MS, context)
        method = METHOD_OPTIONS[self.parameterAsEnumString(parameters, self.METHOD, context)]
        sensor = self.parameterAsEnumString(parameters, self.SENSOR, context)
        block = self.parameterAsInt(parameters, self.BLOCK_SIZE, context)
        report_path = self.parameterAsFileOutput(parameters, self.REPORT, context)
        map_path = self.quality_map_path(parameters, context)
        self.check_no_overwrite({self.REPORT: report_path, self.QUALITY_MAP: map_path},
                                {self.PAN: pan, self.MS: ms})
        scores = self.run_engine(lambda: evaluate_reduced_files(
            pan, ms, method=method, sensor=sensor, block_size=block,
            report_path=report_path or None, feedback=EngineFeedback(feedback),
            quality_map_path=map_path))
        results = {key: float(scores[key]) for key in REDUCED_OUTPUTS}
        if report_path:
            results[self.REPORT] = str(report_path)
        if map_path:
            results[self.QUALITY_MAP] = map_path
            self.name_loaded_layer(map_path, self.tr("Local quality (reduced resolution)"),
                                   context)
        return results
