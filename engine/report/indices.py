"""What each quality index means: ideal value, direction and a one-line explanation."""

from __future__ import annotations

from typing import NamedTuple


class IndexInfo(NamedTuple):
    label: str
    ideal: str
    better: str  # 'higher' or 'lower'
    explanation: str


INDICES: dict[str, IndexInfo] = {
    "QNR": IndexInfo("QNR", "1", "higher",
                     "(1 - D_lambda)(1 - D_s): overall quality without a reference "
                     "(Alparone et al. 2008)."),
    "D_LAMBDA": IndexInfo("D_lambda", "0", "lower",
                          "spectral distortion: do the band-to-band relations of the result "
                          "match those of the MS?"),
    "D_S": IndexInfo("D_s", "0", "lower",
                     "spatial distortion: does each band relate to the PAN as the MS relates "
                     "to the degraded PAN?"),
    "HQNR": IndexInfo("HQNR", "1", "higher",
                      "hybrid QNR (1 - D_lambda^K)(1 - D_s toolbox) (Aiazzi et al. 2014)."),
    "D_LAMBDA_K": IndexInfo("D_lambda^K", "0", "lower",
                            "Khan's spectral distortion: the result, blurred by the sensor's "
                            "MTF, should look like the MS (Khan et al. 2009)."),
    "D_S_TOOLBOX": IndexInfo("D_s (toolbox)", "0", "lower",
                             "spatial distortion at PAN scale, the D_s inside HQNR "
                             "(Vivone et al. 2015)."),
    "D_RHO": IndexInfo("D_rho", "0", "lower",
                       "1 - local correlation with the PAN: how much PAN detail the result "
                       "carries (Scarpa & Ciotola 2022). EXP scores poorly here."),
    "Q2N": IndexInfo("Q2n (Q4/Q8)", "1", "higher",
                     "joint spectral and spatial similarity to the reference, all bands at "
                     "once (Garzelli & Nencini 2009)."),
    "SAM": IndexInfo("SAM (degrees)", "0", "lower",
                     "mean angle between fused and reference pixel spectra: colour error."),
    "ERGAS": IndexInfo("ERGAS", "0", "lower",
                       "relative global error over bands, scaled by the resolution ratio "
                       "(Wald 2002)."),
    "SCC": IndexInfo("SCC", "1", "higher",
                     "correlation of the edges (Sobel) of the result and the reference: "
                     "spatial detail."),
    "Q_AVG": IndexInfo("Q (mean)", "1", "higher",
                       "universal image quality index averaged over bands and windows "
                       "(Wang & Bovik 2002)."),
    "PSNR": IndexInfo("PSNR (dB)", "+inf", "higher",
                      "peak signal-to-noise ratio, per band with the data's peak, averaged."),
    "SSIM": IndexInfo("SSIM", "1", "higher",
                      "structural similarity, averaged over bands (Wang et al. 2004)."),
    "CC": IndexInfo("CC", "1", "higher", "mean per-band correlation with the reference."),
}

#: Per-band values shown in the band chart: key -> (title, note).
BAND_INDICES: dict[str, tuple[str, str]] = {
    "D_S": ("D_s term per band", "|Q(band, PAN) - Q(MS band, degraded PAN)|, 0 is best"),
    "D_LAMBDA": ("D_lambda term per band", "mean |Q difference| with the other bands, 0 is best"),
    "D_RHO": ("D_rho per band", "1 - local correlation with the PAN, 0 is best"),
    "Q": ("Q per band", "UIQI against the reference, 1 is best"),
    "PSNR": ("PSNR per band (dB)", "higher is better"),
    "CC": ("Correlation per band", "1 is best"),
}
