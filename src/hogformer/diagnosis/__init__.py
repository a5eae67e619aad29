"""What an image suffers from, seen through the paper's HOG: orientation profile, gradient energy map and a small
degradation classifier on HOG features (``hogformer inspect``). Plain numpy; matplotlib only for the figure."""

from .classifier import CLASSES, estimate, load_classifier
from .hog import cell_histograms, orientation_profile

__all__ = ["CLASSES", "cell_histograms", "estimate", "load_classifier", "orientation_profile"]
