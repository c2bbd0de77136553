"""XML namespaces of MeMo and the conventional prefixes the builder writes.

See docs/facts/memo.md, "Namespaces".
"""

from __future__ import annotations

MEMO_NS = "https://DigitalPost.dk/MeMo-1"
GRD_NS = "https://data.gov.dk/model/core/"
GLN_NS = "https://www.gs1.dk/gs1-standarder/identifikation/gln-global-location-number/"
UDD_NS = (
    "https://www.dst.dk/da/TilSalg/Forskningsservice/Dokumentation/hoejkvalitetsvariable/elevregister-2/udd#"
)
FORM_NS = "http://www.form-online.dk/"
KLE_NS = "http://kle-online.dk/"
DMV_NS = "https://motorregister.skat.dk/"
SOR_NS = "https://services.nsi.dk/en/Services/SOR"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

PREFIXES: dict[str, str] = {
    MEMO_NS: "memo",
    GRD_NS: "grd",
    GLN_NS: "gln",
    UDD_NS: "udd",
    FORM_NS: "form",
    KLE_NS: "kle",
    DMV_NS: "dmv",
    SOR_NS: "sor",
}
