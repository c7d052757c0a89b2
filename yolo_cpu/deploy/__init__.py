"""Deployment: the Detector, bundles, the yolo-cpu command. Needs only the `deploy` extra."""
