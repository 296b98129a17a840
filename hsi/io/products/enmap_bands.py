"""EnMAP's nominal band centres, for L1C/L2A products that arrive without METADATA.XML.

The 224 centre wavelengths (nm) below are DLR's nominal EnMAP band table, *EnMAP Spectral Bands*
(https://www.enmap.org/data/doc/EnMAP_Spectral_Bands_update.xlsx), transcribed to 3 decimals: 91
VNIR bands (418.416-993.338 nm) followed by 133 SWIR bands (901.961-2445.300 nm), in the order
of the SPECTRAL_IMAGE's bands. The two detectors overlap at 902-993 nm, so the list is ascending
within each detector, not overall; hsi keeps the product's band order (like METADATA.XML does).
torchgeo's EnMAP dataset uses the same values for HySpecNet-11k tiles (Fuchs & Demir, IGARSS 2023,
arXiv:2306.00385); on the HySpecNet tile in the shared data the bands 127-141 and 161-167
(1-based; 1294.9-1518.9 nm and 1738.6-1967.7 nm in this table) hold only nodata.

The actual centres of a product differ from the nominal ones by its spectral calibration (up to
about 1 nm, EnMAP's spectral calibration requirement of 0.5 nm VNIR / 1 nm SWIR); FWHM is not
in this table, so a product read through it has none.

L2A reflectance is stored as int16 reflectance x 10000 (``GainOfBand`` 0.0001, ``OffsetOfBand``
0 in METADATA.XML; EnMAP HSI Level 1B/1C/2A Product Specification EN-PCV-ICD-2009-2; the
EnMAP-Box's L2A import and HySpecNet-11k scale by the same 10000), hence
:data:`L2A_REFLECTANCE_SCALE`. L1B/L1C radiance gains vary per band and product and have no
nominal value.
"""

from __future__ import annotations

import numpy as np

VNIR_CENTRES_NM = (
    418.416, 424.043, 429.457, 434.686, 439.758, 444.699, 449.539, 454.306, 459.031, 463.730,
    468.411, 473.080, 477.744, 482.411, 487.087, 491.780, 496.497, 501.243, 506.020, 510.829,
    515.672, 520.551, 525.467, 530.424, 535.422, 540.463, 545.551, 550.687, 555.873, 561.112,
    566.405, 571.756, 577.166, 582.636, 588.171, 593.773, 599.446, 605.193, 611.017, 616.923,
    622.921, 628.987, 635.112, 641.294, 647.537, 653.841, 660.207, 666.637, 673.131, 679.691,
    686.319, 693.014, 699.780, 706.617, 713.524, 720.501, 727.545, 734.654, 741.826, 749.060,
    756.353, 763.703, 771.108, 778.567, 786.078, 793.639, 801.249, 808.905, 816.608, 824.355,
    832.145, 839.976, 847.847, 855.757, 863.703, 871.683, 879.693, 887.729, 895.789, 903.870,
    911.968, 920.081, 928.204, 936.335, 944.470, 952.608, 960.748, 968.892, 977.037, 985.186,
    993.338,
)
SWIR_CENTRES_NM = (
    901.961, 911.571, 921.320, 931.203, 941.218, 951.360, 961.628, 972.016, 982.523, 993.144,
    1003.88, 1014.72, 1025.66, 1036.70, 1047.84, 1059.07, 1070.39, 1081.78, 1093.26, 1104.81,
    1116.43, 1128.10, 1139.84, 1151.62, 1163.44, 1175.30, 1187.20, 1199.11, 1211.05, 1223.00,
    1234.97, 1246.94, 1258.93, 1270.92, 1282.92, 1294.91, 1306.90, 1318.88, 1330.85, 1342.82,
    1354.76, 1366.69, 1378.60, 1390.48, 1461.10, 1472.74, 1484.34, 1495.89, 1507.40, 1518.87,
    1530.29, 1541.67, 1553.01, 1564.30, 1575.55, 1586.76, 1597.91, 1609.02, 1620.09, 1631.11,
    1642.07, 1653.00, 1663.87, 1674.70, 1685.47, 1696.20, 1706.87, 1717.50, 1728.08, 1738.60,
    1749.08, 1759.51, 1939.14, 1948.69, 1958.20, 1967.66, 1977.08, 1986.45, 1995.79, 2005.08,
    2014.33, 2023.54, 2032.70, 2041.83, 2050.92, 2059.96, 2068.97, 2077.93, 2086.86, 2095.74,
    2104.59, 2113.40, 2122.17, 2130.90, 2139.60, 2148.26, 2156.88, 2165.47, 2174.02, 2182.53,
    2191.01, 2199.45, 2207.86, 2216.24, 2224.58, 2232.89, 2241.16, 2249.40, 2257.61, 2265.79,
    2273.93, 2282.04, 2290.12, 2298.17, 2306.19, 2314.17, 2322.13, 2330.05, 2337.94, 2345.81,
    2353.64, 2361.44, 2369.21, 2376.95, 2384.66, 2392.34, 2400.00, 2407.62, 2415.21, 2422.78,
    2430.32, 2437.82, 2445.30,
)
N_BANDS = len(VNIR_CENTRES_NM) + len(SWIR_CENTRES_NM)  # 224
L2A_REFLECTANCE_SCALE = 1e-4  # reflectance = DN * 1e-4 (DN = reflectance x 10000)


def nominal_centres_nm() -> np.ndarray:
    """The 224 nominal band centres (nm) in the product's band order (VNIR, then SWIR)."""
    return np.asarray(VNIR_CENTRES_NM + SWIR_CENTRES_NM, dtype=np.float64)
