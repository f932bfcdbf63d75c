"""Dataset builders, training and evaluation CLIs of pantiny_qgis (depends on engine/)."""
