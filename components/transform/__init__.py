"""The Transform step: TFX's Transform, running our preprocessing_fn."""
