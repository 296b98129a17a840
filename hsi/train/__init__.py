"""Training the diffusion prior with Lightning: data modules (patches of subspace images) and modules."""
