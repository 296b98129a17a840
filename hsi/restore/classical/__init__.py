"""Classical restoration: each module one method, each a plain function of a (rows, cols, bands) cube."""
