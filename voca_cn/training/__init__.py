"""Training only (TensorFlow/Keras and the corpora): networks, ONNX conversion, corpus, training, the
animator fit, evaluation. Only apps import it."""
