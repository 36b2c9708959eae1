"""Pre-trained bases for transfer learning: where they come from (a packaged
ImageNet network, a keras.applications architecture with a weights file, a model
file, or a model this pipeline pushed), where they are cut (the bottleneck), and
how images are prepared for them. Nothing here downloads anything."""
