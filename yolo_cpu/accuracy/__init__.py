"""Accuracy: mAP with pycocotools, paired bootstrap intervals of its deltas."""
