"""Spectral unmixing: how many endmembers, extraction, abundances, sparse, blind and deep methods.

Modules: :mod:`~hsi.unmix.count` (HySime, HFC, NWHFC), :mod:`~hsi.unmix.extract` (VCA,
N-FINDR, ATGP, SPA, pp-SPA), :mod:`~hsi.unmix.abundance` (UCLS, SCLS, NNLS, FCLS, exact and
batched), :mod:`~hsi.unmix.sparse` (SUnSAL, CLSUnSAL) with :mod:`~hsi.unmix.library`,
:mod:`~hsi.unmix.blind` (archetypal analysis, NMF family), :mod:`~hsi.unmix.pipeline`
(the :class:`Unmixer` that ``conf/method`` builds) and :mod:`~hsi.unmix.preprocess`.
"""
