"""Memory: peak memory of restoring an image, whole and tiled, by size."""
