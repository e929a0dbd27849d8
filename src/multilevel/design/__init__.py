"""Design stage: parsed formula + data -> :class:`Design` (fixed matrix, random terms, response)."""
from .build import (
    Design,
    FixedDesign,
    RandomTerm,
    build_design,
    drop_rank_deficient,
    lme4_column_name,
    r_names,
    terms_in_re_form,
)
from .newdata import encode_fixed, encode_offset, encode_term, newdata_frame

__all__ = ["Design", "FixedDesign", "RandomTerm", "build_design", "drop_rank_deficient",
           "encode_fixed", "encode_offset", "encode_term", "lme4_column_name", "newdata_frame", "r_names", "terms_in_re_form"]
