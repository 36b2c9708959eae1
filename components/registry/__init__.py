"""A versioned model registry in TF Serving's directory layout, with atomic pushes."""
