"""Camera geometry and rotations as pure functions over numpy arrays or torch tensors."""
