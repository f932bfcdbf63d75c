"""``pantiny:evaluate_qnr``: no-reference quality (D_lambda, D_s, QNR, D_lambda^K, HQNR)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from ..compat import NUMBER_INTEGER
from .base import EngineFeedback, PanTinyAlgorithm, raster_parameter

#: Numeric outputs (public API: result keys of processing.run and qgis_process --json).
QNR_OUTPUTS = {
    "D_LAMBDA": "Spectral distortion D_lambda (original QNR, 0 is best)",
    "D_S": "Spatial distortion D_s (original QNR, 0 is best)",
    "QNR": "QNR = (1 - D_lambda)(1 - D_s) (1 is best)",
    "D_LAMBDA_K": "Khan's spectral distortion D_lambda^K (0 is best)",
    "D_S_TOOLBOX": "Spatial distortion D_s used inside HQNR (toolbox form, 0 is best)",
    "HQNR": "Hybrid QNR = (1 - D_lambda^K)(1 - D_s toolbox) (1 is best)",
    "D_RHO": "Spatial distortion D_rho (local PAN correlation, 0 is best)",
}


def report_parameter(tr) -> QgsProcessingParameterFileDestination:
    return QgsProcessingParameterFileDestination(
        "REPORT", tr("Report (JSON, or HTML when the name ends in .html)"),
        fileFilter="JSON files (*.json);;HTML files (*.html)", optional=True,
        createByDefault=False)


class EvaluateQnrAlgorithm(PanTinyAlgorithm):
    """Full-resolution (no-reference) quality of a pan-sharpened raster."""

    FUSED = "FUSED"

    group_label = "Quality assessment"
    group_id = "quality"

    def name(self) -> str:
        return "evaluate_qnr"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Evaluate pan-sharpening without reference (QNR, HQNR)")

    def shortDescription(self) -> str:  # noqa: N802
        return self.tr("Scores a pan-sharpened raster against its PAN and MS inputs with the "
                       "no-reference indices D_lambda, D_s, QNR, D_lambda^K and HQNR.")

    def tags(self) -> list[str]:
        return ["QNR", "HQNR", "quality", "no reference", "full resolution", "pansharpening",
                "D_lambda", "D_s", "metrics"]

    help_paragraphs = (
        "Measures the quality of a pan-sharpened raster (on the PAN grid) at full resolution, "
        "where no reference exists, from the PAN and MS it was made from.",
        "D_LAMBDA, D_S, QNR follow the original definition (Alparone et al., PE&RS 2008): the "
        "universal image quality index Q between band pairs (spectral) and between each band "
        "and the PAN (spatial), compared between the fused image (blocks of BLOCK_SIZE pixels) "
        "and the MS (blocks of BLOCK_SIZE/ratio pixels, PAN reduced by bicubic decimation).",
        "D_LAMBDA_K is Khan's spectral distortion (Khan et al. 2009): 1 - Q2n between the "
        "23-tap interpolated MS and the fused image low-passed with the sensor's MTF filters. "
        "HQNR = (1 - D_LAMBDA_K)(1 - D_S_TOOLBOX), where D_S_TOOLBOX is the toolbox form of "
        "D_s computed at PAN scale (Vivone et al. 2021). D_RHO = mean of 1 - local correlation "
        "between each fused band and the PAN (Scarpa & Ciotola 2022).",
        "Ideal values: distortions 0, QNR and HQNR 1. These indices reward adding no detail: "
        "always compare with the EXP result of 'Pan-sharpen (classical methods)', and read them "
        "together with reduced-resolution scores. Blocks that touch nodata pixels are left "
        "out. The MS is matched to the PAN grid from the geotransforms (offsets rounded to "
        "whole PAN pixels).",
    )
    parameter_help = {
        FUSED: "the pan-sharpened raster to evaluate, on the PAN grid, with the MS's bands.",
        PanTinyAlgorithm.PAN: "the panchromatic raster it was made from (one band).",
        PanTinyAlgorithm.MS: "the multispectral raster it was made from (the same bands as FUSED).",
        PanTinyAlgorithm.SENSOR: "the satellite; sets the MTF gains used by D_LAMBDA_K.",
        PanTinyAlgorithm.BLOCK_SIZE:
            "block size of the Q indices in PAN pixels (default 32); a multiple of "
            "the ratio.",
        PanTinyAlgorithm.REPORT: "optional report file: JSON, or HTML when the name ends in .html.",
        **{key: f"(output) {label}." for key, label in QNR_OUTPUTS.items()},
    }

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(raster_parameter(self.FUSED, self.tr("Pan-sharpened raster to evaluate")))
        self.addParameter(raster_parameter(self.PAN, self.tr("Panchromatic raster (1 band)")))
        self.addParameter(raster_parameter(self.MS, self.tr("Multispectral raster")))
        self.addParameter(self.sensor_parameter())
        self.addParameter(QgsProcessingParameterNumber(
            self.BLOCK_SIZE, self.tr("Block size of the Q indices (PAN pixels)"), NUMBER_INTEGER,
            32, minValue=8, maxValue=512))
        self.addParameter(report_parameter(self.tr))
        for key, label in QNR_OUTPUTS.items():
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..engine.metrics.evaluation import evaluate_qnr_files

        fused = self.raster_path(parameters, self.FUSED, context)
        pan = self.raster_path(parameters, self.PAN, context, single_band=True)
        ms = self.raster_path(parameters, self.MS, context)
        sensor = self.parameterAsEnumString(parameters, self.SENSOR, context)
        block = self.parameterAsInt(parameters, self.BLOCK_SIZE, context)
        report_path = self.parameterAsFileOutput(parameters, self.REPORT, context)
        self.check_no_overwrite({self.REPORT: report_path},
                                {self.FUSED: fused, self.PAN: pan, self.MS: ms})
        scores = self.run_engine(lambda: evaluate_qnr_files(
            fused, pan, ms, sensor=sensor, block_size=block, report_path=report_path or None,
            feedback=EngineFeedback(feedback)))
        results = {key: float(scores[key]) for key in QNR_OUTPUTS}
        if report_path:
            results[self.REPORT] = str(report_path)
        return results
