"""Blind unmixing: endmembers and abundances estimated together."""

from hsi.unmix.blind.archetypal import edaa, edaa_pp
from hsi.unmix.blind.nmf_correntropy import nmf_correntropy
from hsi.unmix.blind.nmf_sparse import nmf_l12
from hsi.unmix.blind.rlsu import rlsu
from hsi.unmix.blind.ssnmf import ssnmf

__all__ = ["edaa", "edaa_pp", "nmf_l12", "nmf_correntropy", "ssnmf", "rlsu"]
