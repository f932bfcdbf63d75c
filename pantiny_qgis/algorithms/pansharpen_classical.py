"""``pantiny:pansharpen_classical``: EXP, Brovey, GSA, MTF-GLP(-HPM) on georeferenced rasters."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingParameterEnum,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterString,
)

from ..compat import FLAG_ADVANCED, creation_options_metadata, set_flags
from .base import METHOD_OPTIONS, PanTinyAlgorithm, EngineFeedback, raster_parameter

DATA_TYPE_OPTIONS = ["Same as MS", "Byte", "UInt16", "Int16", "UInt32", "Int32", "Float32", "Float64"]


class PansharpenClassicalAlgorithm(PanTinyAlgorithm):
    """Classical pan-sharpening (no deep learning, no PyTorch needed)."""

    DATA_TYPE = "DATA_TYPE"

    def name(self) -> str:
        return "pansharpen_classical"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Pan-sharpen (classical methods)")

    def shortDescription(self) -> str:  # noqa: N802
        return self.tr("Fuses a panchromatic and a multispectral raster with a classical method "
                       "(EXP, Brovey, GSA, MTF-GLP, MTF-GLP-HPM) onto the PAN grid.")

    def tags(self) -> list[str]:
        return ["pansharpening", "pan-sharpening", "fusion", "PAN", "multispectral", "Brovey",
                "Gram-Schmidt", "GSA", "MTF-GLP", "HPM", "classical"]

    help_paragraphs = (
        "Fuses a single-band panchromatic raster (PAN) with a multispectral raster (MS) into a "
        "multispectral raster on the PAN grid: same geotransform, CRS, extent and size as the "
        "PAN, one band per MS band. No PyTorch is needed.",
        "Alignment: the resolution ratio is the MS pixel size divided by the PAN pixel size and "
        "must be an integer (usually 4; within 1 % of an integer the MS is first resampled "
        "once onto a grid of exactly that many PAN pixels, with a warning). The MS is placed "
        "on the PAN grid from the two "
        "geotransforms, so PAN and MS may start at different origins, even by a fraction of a "
        "pixel. Both rasters must use the same CRS: otherwise reproject the MS first (gdalwarp "
        "to the PAN's CRS with a pixel size that is an integer multiple of the PAN's). Rasters "
        "without georeferencing are accepted when the PAN size is an integer multiple of the MS "
        "size. PAN pixels outside the MS footprint, and pixels where the PAN or any MS band is "
        "nodata, are written as nodata.",
        "Methods: EXP = the MS interpolated with the 23-tap kernel, no PAN detail (the floor "
        "every method must beat). Brovey = band ratios with the PAN matched to the mean "
        "intensity (Gillespie 1987). GSA = adaptive Gram-Schmidt, intensity weights regressed at "
        "MS scale (Aiazzi et al. 2007). MTF-GLP = additive injection of the PAN detail extracted "
        "with the sensor's MTF-matched filter. MTF-GLP-HPM = multiplicative (high-pass "
        "modulation) injection (Aiazzi et al. 2003), usually the strongest; its ratio is "
        "guarded against near-zero values.",
        "Large rasters are processed in strips, so memory does not grow with the scene size.",
    )
    parameter_help = {
        PanTinyAlgorithm.PAN: "the panchromatic raster, exactly one band.",
        PanTinyAlgorithm.MS:
            "the multispectral raster, any number of bands, at an integer multiple of the PAN "
            "pixel size.",
        PanTinyAlgorithm.METHOD:
            "the fusion method: EXP, Brovey, GSA, MTF-GLP-HPM (default) or MTF-GLP.",
        PanTinyAlgorithm.SENSOR:
            "the satellite, which sets the MTF gains of the filters (WorldView-3, "
            "WorldView-2, QuickBird, IKONOS, GeoEye-1, Pleiades; GaoFen-2, Landsat 8 and "
            "Generic use generic gains 0.30, PAN 0.15).",
        DATA_TYPE: "(advanced) the output data type; default the MS data type. Integer "
                     "outputs are rounded and clipped to the type's range.",
        PanTinyAlgorithm.CREATION_OPTIONS:
            "(advanced) GDAL creation options KEY=VALUE separated by |; empty "
            "gives a tiled, DEFLATE-compressed GeoTIFF.",
        PanTinyAlgorithm.OUTPUT: "the pan-sharpened raster (.tif); it opens in true colour when "
                                 "the band names say which bands are red, green and blue "
                                 "(a .qml style is written next to it).",
    }

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(raster_parameter(self.PAN, self.tr("Panchromatic raster (1 band)")))
        self.addParameter(raster_parameter(self.MS, self.tr("Multispectral raster")))
        method = QgsProcessingParameterEnum(
            self.METHOD, self.tr("Fusion method"), options=list(METHOD_OPTIONS),
            defaultValue="MTF-GLP-HPM")
        method.setUsesStaticStrings(True)
        self.addParameter(method)
        self.addParameter(self.sensor_parameter())
        dtype = QgsProcessingParameterEnum(
            self.DATA_TYPE, self.tr("Output data type"), options=DATA_TYPE_OPTIONS,
            defaultValue="Same as MS")
        dtype.setUsesStaticStrings(True)
        self.addParameter(set_flags(dtype, FLAG_ADVANCED))
        options = QgsProcessingParameterString(
            self.CREATION_OPTIONS, self.tr("Creation options (KEY=VALUE|KEY=VALUE)"),
            defaultValue="", optional=True)
        options.setMetadata(creation_options_metadata())
        self.addParameter(set_flags(options, FLAG_ADVANCED))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.tr("Pan-sharpened raster")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..engine.fusion.raster import pansharpen_classical_raster

        pan = self.raster_path(parameters, self.PAN, context, single_band=True)
        ms = self.raster_path(parameters, self.MS, context)
        method_label = self.parameterAsEnumString(parameters, self.METHOD, context)
        method = METHOD_OPTIONS[method_label]
        sensor = self.parameterAsEnumString(parameters, self.SENSOR, context)
        dtype = self.parameterAsEnumString(parameters, self.DATA_TYPE, context)
        options = self.parameterAsString(parameters, self.CREATION_OPTIONS, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        self.check_no_overwrite({self.OUTPUT: output}, {self.PAN: pan, self.MS: ms})
        result = self.run_engine(lambda: pansharpen_classical_raster(
            pan, ms, output, method=method, sensor=sensor,
            out_dtype=None if dtype == DATA_TYPE_OPTIONS[0] else dtype,
            creation_options=options or None, feedback=EngineFeedback(feedback)))
        self.present_raster(str(result[self.OUTPUT]), f"{method_label} pan-sharpened", context,
                            feedback)
        return {self.OUTPUT: str(result[self.OUTPUT])}
