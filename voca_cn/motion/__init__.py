"""Phones or audio -> (T, 52) ARKit weights at 60 fps: the procedural animator and the ONNX networks,
offline and live. Run time only: numpy and onnxruntime, never TensorFlow."""
