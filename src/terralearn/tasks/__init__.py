"""Lightning tasks, losses and metrics.

Submodules are imported on use (``terralearn.tasks.segmentation`` pulls in Lightning).
"""
