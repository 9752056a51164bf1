"""In-process refinement: the ONNX session, the tile engine, inference and the classical harmonisation."""
