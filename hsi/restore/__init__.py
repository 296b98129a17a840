"""Restoration methods: classical (subspace, wavelet, low-rank, TV) and learnt."""
