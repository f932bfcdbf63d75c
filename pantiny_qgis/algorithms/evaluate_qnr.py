"""``pantiny:evaluate_qnr``: no-reference quality (D_lambda, D_s, QNR, D_lambda^K, HQNR)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
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


def quality_map_parameter(tr) -> QgsProcessingParameterRasterDestination:
    return QgsProcessingParameterRasterDestination(
        "QUALITY_MAP", tr("Local quality map (one pixel per block)"), optional=True,
        createByDefault=False)


def report_parameter(tr) -> QgsProcessingParameterFileDestination:
    return QgsProcessingParameterFileDestination(
        "REPORT", tr("Report (JSON, or HTML when the name ends in .html)"),
        fileFilter="JSON files (*.json);;HTML files (*.html)", optional=True,
        createByDefault=False)


class EvaluateQnrAlgorithm(PanTinyAlgorithm):
    """Full-resolution (no-reference) quality of a pan-sharpened raster."""

    FUSED = "FUSED"
    BANDS = "BANDS"
    QUALITY_MAP = "QUALITY_MAP"

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
        "Measures the quality of a pan-sharpened raster at full resolution, where no "
        "reference exists, from the PAN and MS it was made from.",
        "QNR = (1 - D_LAMBDA)(1 - D_S) (Alparone et al., PE&RS 2008): D_LAMBDA compares the "
        "band-to-band similarity of the result with that of the MS, D_S the similarity of "
        "each band to the PAN with that of the MS to the degraded PAN. HQNR = "
        "(1 - D_LAMBDA_K)(1 - D_S_TOOLBOX) (Aiazzi et al., SPIE 2014), with Khan's spectral "
        "distortion (Khan et al., IEEE TGRS 2009). D_RHO is 1 - the local correlation of each "
        "band with the PAN (Scarpa & Ciotola, Remote Sensing 2022). Ideal: distortions 0, "
        "QNR and HQNR 1.",
        "These indices reward adding no detail: the EXP result (the MS only interpolated) "
        "often scores best. The HTML report therefore scores EXP and MTF-GLP-HPM beside "
        "the raster and shows all of them as pictures; read D_RHO and the reduced-"
        "resolution evaluation too.",
        "Blocks that touch nodata are left out. A 4-band result of an 8-band MS is matched "
        "to its MS bands automatically when it was made by 'Pan-sharpen (deep learning)'.",
    )
    parameter_help = {
        FUSED: "the pan-sharpened raster to evaluate, on the PAN grid.",
        PanTinyAlgorithm.PAN: "the panchromatic raster it was made from (one band).",
        PanTinyAlgorithm.MS: "the multispectral raster it was made from.",
        BANDS: "(optional) the MS bands the result's bands correspond to, in order, e.g. "
               "2,3,5,7 for a blue, green, red, NIR result of an 8-band WorldView MS. Empty: "
               "read from the result's metadata, else all MS bands.",
        PanTinyAlgorithm.SENSOR: "the satellite; sets the MTF gains used by D_LAMBDA_K.",
        PanTinyAlgorithm.BLOCK_SIZE:
            "block size of the Q indices in PAN pixels (default 32); a multiple of "
            "the ratio. Also the cell size of the quality map.",
        PanTinyAlgorithm.REPORT:
            "(optional) report file: an HTML page (name ending in .html) with the scores, "
            "per-band charts and pictures, or JSON. The report also scores EXP and "
            "MTF-GLP-HPM made from the same PAN and MS, which takes about three times as "
            "long as the indices alone.",
        QUALITY_MAP: "(optional) raster with one pixel per block and three bands: local "
                     "D_lambda, D_s and D_rho (0 is best), shown as a colour composite where "
                     "dark blocks are good. Open it over the result to see where the "
                     "fusion is poor.",
        **{key: f"(output) {label}." for key, label in QNR_OUTPUTS.items()},
    }

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(raster_parameter(self.FUSED, self.tr("Pan-sharpened raster to evaluate")))
        self.addParameter(raster_parameter(self.PAN, self.tr("Panchromatic raster (1 band)")))
        self.addParameter(raster_parameter(self.MS, self.tr("Multispectral raster")))
        self.addParameter(QgsProcessingParameterBand(
            self.BANDS, self.tr("MS bands of the result (empty: from its metadata)"), None,
            self.MS, optional=True, allowMultiple=True))
        self.addParameter(self.sensor_parameter())
        self.addParameter(QgsProcessingParameterNumber(
            self.BLOCK_SIZE, self.tr("Block size of the Q indices (PAN pixels)"), NUMBER_INTEGER,
            32, minValue=8, maxValue=512))
        self.addParameter(report_parameter(self.tr))
        self.addParameter(quality_map_parameter(self.tr))
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
        ms_bands = self.parameterAsRasterLayer(parameters, self.MS, context).bandCount()
        bands = self.band_numbers(parameters, self.BANDS, context, ms_bands)
        map_path = self.quality_map_path(parameters, context)
        self.check_no_overwrite({self.REPORT: report_path, self.QUALITY_MAP: map_path},
                                {self.FUSED: fused, self.PAN: pan, self.MS: ms})
        scores = self.run_engine(lambda: evaluate_qnr_files(
            fused, pan, ms, sensor=sensor, block_size=block, report_path=report_path or None,
            feedback=EngineFeedback(feedback), bands=bands, quality_map_path=map_path))
        results = {key: float(scores[key]) for key in QNR_OUTPUTS}
        if report_path:
            results[self.REPORT] = str(report_path)
        if map_path:
            results[self.QUALITY_MAP] = map_path
            self.name_loaded_layer(map_path, self.tr("Local quality (no reference)"), context)
        return results
