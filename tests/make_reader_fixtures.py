#!/usr/bin/env python3
"""Writes the fixtures that let the reader and Kramers-Kronig tests run offline:
what impedance.py's readers and linKK return on its own example files.

    /usr/bin/python3 -m pip install --break-system-packages impedance pandas
    /usr/bin/python3 tests/make_reader_fixtures.py

Output, in tests/data/impedance_py/: FILE.expected (one "f,Re,Im" line per
point, impedance.py's order) and linkk_exampleData_<fit>.txt.
"""
import os
import sys

import numpy as np

# impedance.py 1.7 builds a Python expression from repr() of numpy scalars,
# which numpy 2 prints as "np.float64(...)"; the legacy repr keeps it working.
np.set_printoptions(legacy="1.25")

from impedance import preprocessing as pp  # noqa: E402
from impedance.validation import linKK  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "impedance_py")

FILES = {
    "exampleData.csv": None,
    "exampleDataGamry.DTA": "gamry",
    "exampleDataGamryABORT.DTA": "gamry",
    "exampleDataAutolab.txt": "autolab",
    "exampleDataBioLogic.mpt": "biologic",
    "exampleDataCHInstruments.txt": "chinstruments",
    "exampleDataParstat.txt": "parstat",
    "exampleDataPowersuite.txt": "powersuite",
    "exampleDataVersaStudio.par": "versastudio",
    "exampleDataZPlot.z": "zplot",
    "exampleDataZPlot_noComments.z": "zplot",
    "Circuit1_EIS_1.z": "zplot",
    "Circuit2_EIS_1.z": "zplot",
    "Circuit3_EIS_1.z": "zplot",
}


def main():
    for name, instrument in FILES.items():
        f, z = pp.readFile(os.path.join(HERE, name), instrument)
        with open(os.path.join(HERE, name + ".expected"), "w") as out:
            out.write("# impedance.py %s reader: freq,Re(Z),Im(Z)\n" % (instrument or "csv"))
            for fi, zi in zip(f, z):
                out.write("%.17g,%.17g,%.17g\n" % (fi, zi.real, zi.imag))
    f, z = pp.readCSV(os.path.join(HERE, "exampleData.csv"))
    f, z = pp.ignoreBelowX(f, z)
    for fit in ("real", "complex"):
        stdout = sys.stdout
        sys.stdout = open(os.devnull, "w")  # linKK prints every tenth M
        try:
            M, mu, zfit, rr, ri = linKK(f, z, c=0.5, max_M=100, fit_type=fit)
        finally:
            sys.stdout.close()
            sys.stdout = stdout
        with open(os.path.join(HERE, "linkk_exampleData_%s.txt" % fit), "w") as out:
            out.write("# impedance.py linKK(c=0.5, max_M=100, fit_type=%s) on exampleData.csv, Im>=0 dropped\n" % fit)
            out.write("M %d\nmu %.17g\n" % (M, mu))
            out.write("# f,Re(Zfit),Im(Zfit),res_re,res_im\n")
            for i in range(len(f)):
                out.write("%.17g,%.17g,%.17g,%.17g,%.17g\n" % (f[i], zfit[i].real, zfit[i].imag, rr[i], ri[i]))
        print("linKK %s: M=%d mu=%.4f" % (fit, M, mu))


if __name__ == "__main__":
    main()
