"""Optional integrations: the Hugging Face Hub, ONNX / onnxruntime and spandrel (ComfyUI, chaiNNer, InvokeAI).

Each module imports its third-party package only when used; install them with the extras ``hub``, ``onnx`` and
``spandrel``.
"""
