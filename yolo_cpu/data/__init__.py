"""Data in: assets and downloads, COCO and data YAMLs, the seeded splits, calibration sets."""
