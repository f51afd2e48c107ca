"""Read one SAS/Stata/SPSS file with pyreadstat, in a process of its own.

Run by ``readers.read_statistical`` as ``python -I _statistical_worker.py FORMAT SOURCE TARGET``:
ReadStat is C code, and a corrupt file can crash the process that reads it (issue 16: one
changed byte of a .sav segfaulted the ingest). Here a crash costs only this process; the
parent reports "file X is corrupt". The frame goes back as a pickle in TARGET (a private
scratch file the parent made); a read error is printed to stderr with exit status 3.
Deliberately imports nothing from cohortcalc.
"""

import pickle
import sys


def main() -> int:
    fmt, source, target = sys.argv[1:4]
    import pyreadstat

    readers = {
        "sas7bdat": pyreadstat.read_sas7bdat,
        "xpt": pyreadstat.read_xport,
        "dta": pyreadstat.read_dta,
        "sav": pyreadstat.read_sav,
    }
    try:
        frame, _meta = readers[fmt](source)
    except Exception as err:  # the parent turns this into IngestError
        sys.stderr.write(f"{type(err).__name__}: {err}\n")
        return 3
    with open(target, "wb") as handle:
        pickle.dump(frame, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
