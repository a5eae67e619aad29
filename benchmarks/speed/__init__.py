"""Speed: forward and training-step time, profiles, ONNX against PyTorch."""
