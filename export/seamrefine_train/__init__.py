"""Training side: artifact-pair synthesis, refiner network, losses, training, ONNX export, benchmark."""
