"""Blind unmixing: endmembers and abundances estimated together."""

from hsi.unmix.blind.archetypal import edaa, edaa_pp
from hsi.unmix.blind.nmf_cenmf import nmf_correntropy
from hsi.unmix.blind.nmf_sparse import nmf_l12
from hsi.unmix.blind.nmf_robust_l21 import rlsu
from hsi.unmix.blind.nmf_structured import ssnmf

__all__ = ["edaa", "edaa_pp", "nmf_l12", "nmf_correntropy", "ssnmf", "rlsu"]
