"""Training the diffusion prior with Lightning: data modules (crops of natural and remote-sensing images) and modules."""
