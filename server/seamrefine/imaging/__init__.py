"""Image math and seam metrics: pure numpy, shared by the runtime and by training (``seamrefine_train``)."""
